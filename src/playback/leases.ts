import type { Db } from '../catalog/database.js';
import { chunksOf, type SqlStatement } from '../catalog/sql.js';
import type { Clock } from '../clock.js';
import { WeirError } from '../errors.js';

export type PlayerState = 'playing' | 'paused' | 'buffering';
export const playerStates = ['playing', 'paused', 'buffering'] as const;

export type LeaseDevice = { id: string; family: string; model: string | null };

/** A playback session: a lease on one of the viewer's concurrent streams, kept by heartbeats. */
export type Lease = {
  id: string;
  contentId: string;
  /** null: an anonymous session (free content, admin preview), which no limit counts. */
  viewerId: string | null;
  device: LeaseDevice | null;
  /** The tallest rendition this session may play (plan ∩ device); null for no cap. */
  maxHeight: number | null;
  /** Whether it takes one of the viewer's concurrent-stream slots. */
  counted: boolean;
  startedAt: number;
  renewedAt: number;
  endedAt: number | null;
  positionMs: number | null;
  state: PlayerState | null;
};

export type LeaseTableOptions = {
  clock: Clock;
  /** How often players are asked to heartbeat; a lease missing two expires. */
  heartbeatSeconds: number;
};

type Row = {
  id: string;
  content_id: string;
  created_at: number;
  viewer_id: string | null;
  device: string | null;
  max_height: number | null;
  counted: number;
  renewed_at: number | null;
  position_ms: number | null;
  player_state: string | null;
};

const columns = 'id, content_id, created_at, viewer_id, device, max_height, counted, renewed_at, position_ms, player_state';

/**
 * Every live playback session, in memory: the media read path asks `alive` (a map lookup) and
 * never the database. Starting and ending a lease are written at once (they decide who gets a
 * slot); heartbeats are written behind, in batches. Single-threaded JavaScript makes the slot
 * check and the insert one step, so racing starts admit exactly the limit.
 *
 * On PostgreSQL several nodes share the sessions, so memory is one node's view, not the truth:
 * a counted start takes a lock on its viewer in the database and counts the open sessions there;
 * a session another node started is read once when it first reaches this one; and each sweep
 * reads back what other nodes did to the sessions held here (renewed, stopped).
 */
export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private readonly byViewer = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private readonly s;
  private readonly shared: {
    startCounted: (lease: Lease, limit: number) => Row[] | null;
    one: SqlStatement;
    states: SqlStatement;
    renewMany: SqlStatement;
    endMany: SqlStatement;
  } | null = null;
  /** Session ids another node may know but the database does not: not asked again for a while. */
  private readonly unknown = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly options: LeaseTableOptions,
  ) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO playback_sessions (id, content_id, created_at, expires_at, viewer_id, device, max_height, counted, renewed_at, ended_at)
         VALUES (@id, @contentId, @startedAt, @expiresAt, @viewerId, @device, @maxHeight, @counted, @renewedAt, @endedAt)`,
      ),
      // A renewal never moves a session back in time, nor revives one that ended (another node's write may be newer).
      renew: db.prepare(
        `UPDATE playback_sessions SET renewed_at = @renewedAt, expires_at = @expiresAt, position_ms = @positionMs, player_state = @state
         WHERE id = @id AND ended_at IS NULL AND (renewed_at IS NULL OR renewed_at <= @renewedAt)`,
      ),
      end: db.prepare(`UPDATE playback_sessions SET ended_at = @endedAt, expires_at = @endedAt, position_ms = @positionMs, player_state = @state WHERE id = @id`),
      open: db.prepare(`SELECT ${columns} FROM playback_sessions WHERE ended_at IS NULL AND renewed_at IS NOT NULL`),
      prune: db.prepare(`DELETE FROM playback_sessions WHERE ended_at IS NOT NULL AND ended_at < ?`),
    };
    this.insertBatch = db.transaction((batch: Lease[]) => {
      for (const lease of batch) this.insertRow(lease);
    });
    if (db.engine === 'postgres') {
      // The viewer's lock makes count-then-insert one step across nodes; the function (schema
      // version 4) does all three in one round trip, where a transaction of them took five.
      const startCounted = db.prepare(
        `SELECT ${columns} FROM weir_start_counted(@id, @contentId, @now, @expiresAt, @viewerId, @device, @maxHeight, @limit)`,
      );
      this.shared = {
        startCounted: (lease: Lease, limit: number) => {
          const rows = startCounted.all({
            id: lease.id,
            contentId: lease.contentId,
            now: lease.startedAt,
            expiresAt: lease.renewedAt + this.expiryMs,
            viewerId: lease.viewerId,
            device: lease.device ? JSON.stringify(lease.device) : null,
            maxHeight: lease.maxHeight,
            limit,
          }) as Row[];
          return rows.length > 0 ? rows : null;
        },
        // Renewals and ends a thousand at a time: each statement is a round trip that holds the
        // event loop, and a flush can carry every running session's heartbeat.
        renewMany: db.prepare(
          `UPDATE playback_sessions AS p SET renewed_at = v.renewed_at, expires_at = v.expires_at, position_ms = v.position_ms, player_state = v.state
             FROM unnest(CAST(@ids AS text[]), CAST(@renewed AS bigint[]), CAST(@expires AS bigint[]), CAST(@positions AS bigint[]), CAST(@states AS text[]))
               AS v(id, renewed_at, expires_at, position_ms, state)
            WHERE p.id = v.id AND p.ended_at IS NULL AND (p.renewed_at IS NULL OR p.renewed_at <= v.renewed_at)`,
        ),
        endMany: db.prepare(
          `UPDATE playback_sessions AS p SET ended_at = v.ended_at, expires_at = v.ended_at, position_ms = v.position_ms, player_state = v.state
             FROM unnest(CAST(@ids AS text[]), CAST(@ended AS bigint[]), CAST(@positions AS bigint[]), CAST(@states AS text[]))
               AS v(id, ended_at, position_ms, state)
            WHERE p.id = v.id`,
        ),
        one: db.prepare(`SELECT ${columns}, ended_at FROM playback_sessions WHERE id = ?`),
        states: db.prepare(`SELECT id, renewed_at, ended_at FROM playback_sessions WHERE id = ANY(?)`),
      };
    }
  }

  private insertRow(lease: Lease): void {
    this.s.insert.run({
      id: lease.id,
      contentId: lease.contentId,
      startedAt: lease.startedAt,
      // As it is now: stopped before it was written, it is written stopped.
      expiresAt: lease.endedAt ?? lease.renewedAt + this.expiryMs,
      viewerId: lease.viewerId,
      device: lease.device ? JSON.stringify(lease.device) : null,
      maxHeight: lease.maxHeight,
      counted: lease.counted ? 1 : 0,
      renewedAt: lease.renewedAt,
      endedAt: lease.endedAt,
    });
  }

  get heartbeatSeconds(): number {
    return this.options.heartbeatSeconds;
  }

  private get expiryMs(): number {
    return 2 * this.options.heartbeatSeconds * 1000;
  }

  /** When a lease lapses unless renewed before (two heartbeat intervals after its last renewal). */
  expiresAt(lease: Lease): number {
    return lease.renewedAt + this.expiryMs;
  }

  /**
   * At start: the leases that were open when the server stopped. Players could not reach a
   * stopped server, so each gets a full expiry window from now: a restart neither frees their
   * slots nor cuts them off.
   */
  restore(): number {
    const now = this.options.clock.now();
    for (const row of this.s.open.all() as Row[]) {
      const lease = fromRow(row);
      lease.renewedAt = Math.max(lease.renewedAt, now);
      this.add(lease);
      this.dirty.add(lease.id);
    }
    // The new window is written at once: it is what other nodes (and the next restart) count.
    this.flush();
    return this.leases.size;
  }

  /** Whether the viewer holds `limit` slots now (counting stops there). */
  private holdsAtLeast(viewerId: string, limit: number, now: number): boolean {
    const ids = this.byViewer.get(viewerId);
    // The index holds every open lease of the viewer, expired ones until the next sweep: fewer
    // than the limit cannot reach it, which spares the count on nearly every start.
    if (!ids || ids.size < limit) return false;
    let holding = 0;
    for (const id of ids) {
      const lease = this.leases.get(id)!;
      if (lease.counted && this.isAlive(lease, now) && ++holding >= limit) return true;
    }
    return false;
  }

  /** Running sessions by device family (`anonymous` for sessions without a device), for metrics. */
  runningByFamily(now = this.options.clock.now()): Map<string, number> {
    const counts = new Map<string, number>();
    for (const lease of this.leases.values()) {
      if (!this.isAlive(lease, now)) continue;
      const family = lease.device?.family ?? 'anonymous';
      counts.set(family, (counts.get(family) ?? 0) + 1);
    }
    return counts;
  }

  /** The viewer's leases that hold a slot now. */
  active(viewerId: string, now = this.options.clock.now()): Lease[] {
    // The index holds a viewer's open leases only (ended ones leave it), so this loop is short.
    const holding: Lease[] = [];
    for (const id of this.byViewer.get(viewerId) ?? []) {
      const lease = this.leases.get(id)!;
      if (lease.counted && this.isAlive(lease, now)) holding.push(lease);
    }
    return holding;
  }

  /**
   * Takes a lease, unless its viewer already holds `limit` slots (then the holders are returned,
   * so a device can offer to stop one). The slot is taken in memory at once (so racing starts
   * admit exactly the limit); `persisted` resolves when the lease is written, which the caller
   * awaits before answering. Starts arriving together share one commit.
   */
  start(lease: Omit<Lease, 'renewedAt' | 'endedAt' | 'positionMs' | 'state'>, limit: number | null): { lease: Lease; persisted: Promise<void> } | { holders: Lease[] } {
    const now = lease.startedAt;
    const full: Lease = { ...lease, renewedAt: now, endedAt: null, positionMs: null, state: null };
    if (this.shared && lease.counted && lease.viewerId !== null && limit !== null) {
      let holders: Row[] | null;
      try {
        holders = this.shared.startCounted(full, limit);
      } catch {
        const failed = Promise.reject(new Error('the playback session could not be recorded'));
        failed.catch(() => undefined); // as in commitSoon: nobody may be left to await it
        return { lease: full, persisted: failed };
      }
      if (holders) return { holders: holders.map((row) => this.leases.get(row.id) ?? fromRow(row)) };
      this.add(full);
      return { lease: full, persisted: Promise.resolve() };
    }
    if (lease.counted && lease.viewerId !== null && limit !== null && this.holdsAtLeast(lease.viewerId, limit, now)) {
      return { holders: this.active(lease.viewerId, now) };
    }
    this.add(full);
    this.pendingInserts.push(full);
    return { lease: full, persisted: this.commitSoon() };
  }

  private pendingInserts: Lease[] = [];
  /** One transaction over a batch of starts (made once: building it per batch cost a start's share). */
  private readonly insertBatch: (batch: Lease[]) => void;
  private commit: Promise<void> | null = null;

  /** Writes the leases started in this turn of the event loop in one transaction. */
  private commitSoon(): Promise<void> {
    if (!this.commit) {
      this.commit = new Promise<void>((resolve, reject) => setImmediate(() => (this.writePending() ? resolve() : reject(new Error('the playback session could not be recorded')))));
      this.commit.catch(() => undefined); // a start nobody awaits (shutdown) must not become an unhandled rejection
    }
    return this.commit;
  }

  /** Writes the pending starts now; false (and the slots given back) when the write failed. */
  private writePending(): boolean {
    const batch = this.pendingInserts;
    this.pendingInserts = [];
    this.commit = null;
    if (batch.length === 0) return true;
    try {
      this.insertBatch(batch);
      return true;
    } catch {
      // Not written, so not granted: the slots go back.
      for (const lease of batch) {
        this.unindex(lease);
        this.forget(lease);
      }
      return false;
    }
  }

  /** The lease if it is still running (not stopped, not expired). A map lookup: the media path's check. */
  alive(id: string, now = this.options.clock.now()): Lease | null {
    const lease = this.known(id, now);
    return lease && this.isAlive(lease, now) ? lease : null;
  }

  /** Media reaching the origin renews the lease as a heartbeat would (players that never heartbeat keep playing). */
  touch(lease: Lease, now = this.options.clock.now()): void {
    if (now - lease.renewedAt < 1000) return;
    lease.renewedAt = now;
    this.dirty.add(lease.id);
  }

  /** A player's heartbeat: renews the lease and records where it is. */
  heartbeat(id: string, viewerId: string | null, report: { positionMs: number | null; state: PlayerState }, now = this.options.clock.now()): Lease {
    const lease = this.owned(id, viewerId);
    if (!this.isAlive(lease, now)) throw new WeirError('PLAYBACK_SESSION_ENDED', 'The playback session was stopped or has expired; start a new one.');
    lease.renewedAt = now;
    lease.positionMs = report.positionMs;
    lease.state = report.state;
    this.dirty.add(id);
    return lease;
  }

  /** Stops a lease: its slot is free at once, and its media, keys and licenses are refused from now on. */
  end(id: string, viewerId: string | null, now = this.options.clock.now()): Lease {
    const lease = this.owned(id, viewerId);
    this.finish(lease, now);
    return lease;
  }

  /** Records the end: now if it was running, or when it lapsed. */
  private finish(lease: Lease, now: number): void {
    if (lease.endedAt !== null) return;
    this.markEnded(lease, now);
    this.writeEnds([lease]);
  }

  private markEnded(lease: Lease, now: number): void {
    lease.endedAt = this.isAlive(lease, now) ? now : lease.renewedAt + this.expiryMs;
    this.dirty.delete(lease.id);
    this.unindex(lease);
  }

  private writeEnds(ended: readonly Lease[]): void {
    if (this.shared) {
      for (const chunk of chunksOf(ended)) {
        this.shared.endMany.run({ ids: chunk.map((l) => l.id), ended: chunk.map((l) => l.endedAt), positions: chunk.map((l) => l.positionMs), states: chunk.map((l) => l.state) });
      }
      return;
    }
    // One transaction for all: a commit each would hold the event loop as many times.
    this.db.transaction(() => {
      for (const lease of ended) this.s.end.run({ id: lease.id, endedAt: lease.endedAt, positionMs: lease.positionMs, state: lease.state });
    })();
  }

  private writeRenewals(renewed: readonly Lease[]): void {
    if (this.shared) {
      for (const chunk of chunksOf(renewed)) {
        this.shared.renewMany.run({
          ids: chunk.map((l) => l.id),
          renewed: chunk.map((l) => l.renewedAt),
          expires: chunk.map((l) => l.renewedAt + this.expiryMs),
          positions: chunk.map((l) => l.positionMs),
          states: chunk.map((l) => l.state),
        });
      }
      return;
    }
    this.db.transaction(() => {
      for (const lease of renewed) this.s.renew.run({ id: lease.id, renewedAt: lease.renewedAt, expiresAt: lease.renewedAt + this.expiryMs, positionMs: lease.positionMs, state: lease.state });
    })();
  }

  /**
   * The lease from memory; with several nodes, a session started on another one is read from the
   * database the first time it reaches this node (once: from then on it is in memory too).
   */
  private known(id: string, now: number): Lease | undefined {
    const lease = this.leases.get(id);
    if (lease || !this.shared) return lease;
    const until = this.unknown.get(id);
    if (until !== undefined && until > now) return undefined;
    let row: (Row & { ended_at: number | null }) | undefined;
    try {
      row = this.shared.one.get(id) as typeof row;
    } catch {
      return undefined; // the database is unreachable: a session this node cannot confirm is not served
    }
    if (!row || row.ended_at !== null) {
      // Ids reach here only inside validly signed tokens, but a stopped session's player may keep asking.
      if (this.unknown.size >= 10_000) this.unknown.clear();
      this.unknown.set(id, now + 5_000);
      return undefined;
    }
    const adopted = fromRow(row);
    this.add(adopted);
    return adopted;
  }

  /**
   * With several nodes: reads back what the others did to the sessions open here. A renewal they
   * saw keeps the session alive here too; a stop they recorded stops it here. Runs before each sweep.
   */
  private readBack(now: number): void {
    if (!this.shared) return;
    const open = [...this.leases.values()].filter((lease) => lease.endedAt === null);
    for (let i = 0; i < open.length; i += 500) {
      const chunk = open.slice(i, i + 500);
      const rows = this.shared.states.all(chunk.map((lease) => lease.id)) as { id: string; renewed_at: number | null; ended_at: number | null }[];
      for (const row of rows) {
        const lease = this.leases.get(row.id);
        if (!lease || lease.endedAt !== null) continue;
        if (row.ended_at !== null) {
          lease.endedAt = Math.min(row.ended_at, now);
          this.dirty.delete(lease.id);
          this.unindex(lease);
        } else if (row.renewed_at !== null && row.renewed_at > lease.renewedAt) lease.renewedAt = row.renewed_at;
      }
    }
  }

  /**
   * Writes starts not yet written and heartbeats received since the last flush. A write that
   * fails (the database unreachable) throws, and its renewals stay to be written by the next.
   */
  flush(): number {
    this.writePending();
    if (this.dirty.size === 0) return 0;
    const ids = [...this.dirty];
    this.dirty.clear();
    const renewed: Lease[] = [];
    for (const id of ids) {
      const lease = this.leases.get(id);
      if (lease && lease.endedAt === null) renewed.push(lease);
    }
    try {
      this.writeRenewals(renewed);
    } catch (error) {
      for (const lease of renewed) if (lease.endedAt === null) this.dirty.add(lease.id);
      throw error;
    }
    return ids.length;
  }

  /** Ends expired leases and forgets those ended a while ago (memory stays bounded by open sessions). */
  sweep(now = this.options.clock.now()): void {
    this.flush();
    this.readBack(now);
    const lapsed: Lease[] = [];
    for (const lease of this.leases.values()) {
      if (lease.endedAt === null && !this.isAlive(lease, now)) {
        this.markEnded(lease, now);
        lapsed.push(lease);
      }
      if (lease.endedAt !== null && now - lease.endedAt > this.expiryMs) this.forget(lease);
    }
    // Every lapse in one write. They are ended in memory already (slots free, media refused); a
    // write that fails leaves their rows expired but not ended, which no stream count includes.
    this.writeEnds(lapsed);
  }

  /** Deletes sessions that ended more than 30 days ago (run hourly: the table is history). */
  prune(now = this.options.clock.now()): number {
    return this.s.prune.run(now - 30 * 24 * 3_600_000).changes;
  }

  /** The viewer's own lease (anonymous sessions: whoever holds its id). */
  private owned(id: string, viewerId: string | null): Lease {
    const lease = this.known(id, this.options.clock.now());
    if (!lease || (lease.viewerId !== null && lease.viewerId !== viewerId)) throw new WeirError('PLAYBACK_SESSION_NOT_FOUND', `No playback session ${JSON.stringify(id)} of yours is known.`);
    return lease;
  }

  private isAlive(lease: Lease, now: number): boolean {
    return lease.endedAt === null && now < lease.renewedAt + this.expiryMs;
  }

  private add(lease: Lease): void {
    this.leases.set(lease.id, lease);
    if (lease.viewerId === null) return;
    let ids = this.byViewer.get(lease.viewerId);
    if (!ids) this.byViewer.set(lease.viewerId, (ids = new Set()));
    ids.add(lease.id);
  }

  private forget(lease: Lease): void {
    this.leases.delete(lease.id);
  }

  private unindex(lease: Lease): void {
    if (lease.viewerId === null) return;
    const ids = this.byViewer.get(lease.viewerId);
    ids?.delete(lease.id);
    if (ids?.size === 0) this.byViewer.delete(lease.viewerId);
  }
}

function fromRow(row: Row): Lease {
  return {
    id: row.id,
    contentId: row.content_id,
    viewerId: row.viewer_id,
    device: row.device ? (JSON.parse(row.device) as LeaseDevice) : null,
    maxHeight: row.max_height,
    counted: row.counted === 1,
    startedAt: row.created_at,
    renewedAt: row.renewed_at ?? row.created_at,
    endedAt: null,
    positionMs: row.position_ms,
    state: row.player_state as PlayerState | null,
  };
}
