import type { Db } from './database.js';

/**
 * Which node runs which actor, when several nodes share one PostgreSQL catalog: a row per actor
 * with a lease its node renews. A node runs an actor only while it holds the row; a row whose
 * lease lapsed (its node died) is taken by the next node that claims it.
 */
export class ActorOwners {
  private readonly s;

  constructor(
    db: Db,
    readonly nodeId: string,
    private readonly leaseMs: number,
  ) {
    this.s = {
      // Taken when free, lapsed or already ours; RETURNING says whether this node holds it now.
      claim: db.prepare(
        `INSERT INTO actor_owners (actor_id, node_id, lease_until) VALUES (@actorId, @nodeId, @until)
         ON CONFLICT (actor_id) DO UPDATE SET node_id = excluded.node_id, lease_until = excluded.lease_until
           WHERE actor_owners.node_id = excluded.node_id OR actor_owners.lease_until < @now
         RETURNING node_id`,
      ),
      owner: db.prepare(`SELECT node_id FROM actor_owners WHERE actor_id = ? AND lease_until >= ?`),
      renew: db.prepare(`UPDATE actor_owners SET lease_until = ? WHERE node_id = ?`),
      release: db.prepare(`DELETE FROM actor_owners WHERE actor_id = ? AND node_id = ?`),
      // Lapsed rather than deleted: the other nodes see a lapse on their next pass and take the actors over.
      releaseAll: db.prepare(`UPDATE actor_owners SET lease_until = 0 WHERE node_id = ?`),
      lapsed: db.prepare(`SELECT count(*) AS n FROM actor_owners WHERE lease_until < ?`),
      purgeLapsed: db.prepare(`DELETE FROM actor_owners WHERE lease_until < ?`),
    };
  }

  /** Takes the actor for this node unless another live node holds it; true when this node holds it now. */
  claim(actorId: string, now: number): boolean {
    return this.s.claim.get({ actorId, nodeId: this.nodeId, until: now + this.leaseMs, now }) !== undefined;
  }

  /** The live node holding the actor, or null when none does. */
  owner(actorId: string, now: number): string | null {
    return (this.s.owner.get(actorId, now) as { node_id: string } | undefined)?.node_id ?? null;
  }

  /** Extends every lease this node holds; returns how many. */
  renew(now: number): number {
    return this.s.renew.run(now + this.leaseMs, this.nodeId).changes;
  }

  release(actorId: string): void {
    this.s.release.run(actorId, this.nodeId);
  }

  /** On a clean stop: the other nodes may take every actor at once instead of waiting out the leases. */
  releaseAll(): void {
    this.s.releaseAll.run(this.nodeId);
  }

  /** Whether any node's lease lapsed (a node died): then the others look for actors to take over. */
  anyLapsed(now: number): boolean {
    return (this.s.lapsed.get(now) as { n: number }).n > 0;
  }

  /** After a takeover: rows still lapsed belong to actors nobody has left to run. */
  purgeLapsed(now: number): number {
    return this.s.purgeLapsed.run(now).changes;
  }
}
