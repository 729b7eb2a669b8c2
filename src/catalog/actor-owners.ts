import type { Db } from './database.js';
import { chunksOf } from './sql.js';

/**
 * Which node runs which actor, when several nodes share one PostgreSQL catalog. Each node renews
 * one row of its own (`weir_nodes`: alive until); each actor has a row naming its node. A node
 * runs an actor only while it holds that row; an actor whose node lapsed (died) is taken by the
 * next node that claims it. Renewing is one row per node, however many actors it runs.
 */
export class ActorOwners {
  private readonly s;

  constructor(
    db: Db,
    readonly nodeId: string,
    private readonly leaseMs: number,
  ) {
    const nodeAlive = (node: string) => `EXISTS (SELECT 1 FROM weir_nodes n WHERE n.node_id = ${node} AND n.lease_until >= @now)`;
    this.s = {
      // Taken when free, when its node lapsed, or already ours; RETURNING says whether this node holds it now.
      claim: db.prepare(
        `INSERT INTO actor_owners (actor_id, node_id) VALUES (@actorId, @nodeId)
         ON CONFLICT (actor_id) DO UPDATE SET node_id = excluded.node_id
           WHERE actor_owners.node_id = excluded.node_id OR NOT ${nodeAlive('actor_owners.node_id')}
         RETURNING node_id`,
      ),
      // The same, for many actors in one statement (a restore or takeover pass over every stored actor).
      claimMany: db.prepare(
        `INSERT INTO actor_owners (actor_id, node_id) SELECT id, @nodeId FROM unnest(CAST(@actorIds AS text[])) AS id
         ON CONFLICT (actor_id) DO UPDATE SET node_id = excluded.node_id
           WHERE actor_owners.node_id = excluded.node_id OR NOT ${nodeAlive('actor_owners.node_id')}
         RETURNING actor_id`,
      ),
      owner: db.prepare(`SELECT o.node_id FROM actor_owners o WHERE o.actor_id = @actorId AND ${nodeAlive('o.node_id')}`),
      renew: db.prepare(
        `INSERT INTO weir_nodes (node_id, lease_until) VALUES (@nodeId, @until)
         ON CONFLICT (node_id) DO UPDATE SET lease_until = excluded.lease_until`,
      ),
      release: db.prepare(`DELETE FROM actor_owners WHERE actor_id = ? AND node_id = ?`),
      // Lapsed rather than deleted: the other nodes see a lapse on their next pass and take the actors over.
      releaseAll: db.prepare(`UPDATE weir_nodes SET lease_until = 0 WHERE node_id = ?`),
      lapsed: db.prepare(
        `SELECT EXISTS (SELECT 1 FROM actor_owners o WHERE NOT ${nodeAlive('o.node_id')}) AS lapsed`,
      ),
      purgeLapsed: db.prepare(`DELETE FROM actor_owners o WHERE NOT ${nodeAlive('o.node_id')}`),
      purgeNodes: db.prepare(`DELETE FROM weir_nodes n WHERE n.lease_until < @now AND NOT EXISTS (SELECT 1 FROM actor_owners o WHERE o.node_id = n.node_id)`),
    };
  }

  /** Takes the actor for this node unless another live node holds it; true when this node holds it now. */
  claim(actorId: string, now: number): boolean {
    return this.s.claim.get({ actorId, nodeId: this.nodeId, now }) !== undefined;
  }

  /**
   * Takes every actor of the list that no other live node holds: the ones this node holds now.
   * A statement per thousand actors, where a claim each cost a round trip per actor (100 000
   * titles took tens of seconds at every start and takeover pass).
   */
  claimAll(actorIds: readonly string[], now: number): Set<string> {
    const held = new Set<string>();
    for (const chunk of chunksOf([...new Set(actorIds)])) {
      const rows = this.s.claimMany.all({ actorIds: chunk, nodeId: this.nodeId, now }) as { actor_id: string }[];
      for (const row of rows) held.add(row.actor_id);
    }
    return held;
  }

  /** The live node holding the actor, or null when none does. */
  owner(actorId: string, now: number): string | null {
    return (this.s.owner.get({ actorId, now }) as { node_id: string } | undefined)?.node_id ?? null;
  }

  /** Keeps this node alive for another lease (run before its first claim, then a few times a lease). */
  renew(now: number): void {
    this.s.renew.run({ nodeId: this.nodeId, until: now + this.leaseMs });
  }

  release(actorId: string): void {
    this.s.release.run(actorId, this.nodeId);
  }

  /** On a clean stop: the other nodes may take every actor at once instead of waiting out the lease. */
  releaseAll(): void {
    this.s.releaseAll.run(this.nodeId);
  }

  /** Whether an actor's node lapsed (a node died): then the others look for actors to take over. */
  anyLapsed(now: number): boolean {
    return (this.s.lapsed.get({ now }) as { lapsed: boolean }).lapsed;
  }

  /** After a takeover pass: rows whose node is still lapsed belong to actors nobody has left to run. */
  purgeLapsed(now: number): number {
    const removed = this.s.purgeLapsed.run({ now }).changes;
    this.s.purgeNodes.run({ now });
    return removed;
  }
}
