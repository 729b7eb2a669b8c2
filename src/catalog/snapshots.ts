import type { Db } from './database.js';

export type StoredSnapshot = { actorId: string; kind: string; machineVersion: number; snapshot: unknown };

/** Persisted actor snapshots, each with the version of the machine that wrote it. */
export class SnapshotStore {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      save: db.prepare(
        `INSERT INTO actor_snapshots (actor_id, kind, machine_version, snapshot, updated_at)
         VALUES (@actorId, @kind, @machineVersion, @snapshot, @now)
         ON CONFLICT (actor_id) DO UPDATE SET machine_version = excluded.machine_version,
           snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
      ),
      listKind: db.prepare(`SELECT actor_id, kind, machine_version, snapshot FROM actor_snapshots WHERE kind = ?`),
      remove: db.prepare(`DELETE FROM actor_snapshots WHERE actor_id = ?`),
    };
  }

  /** Saves a snapshot; `alongside` writes what must change with it (the catalog's view) in the same transaction. */
  save(entry: StoredSnapshot, alongside?: () => void, now = Date.now()): void {
    this.db.transaction(() => {
      this.statements.save.run({ ...entry, snapshot: JSON.stringify(entry.snapshot), now });
      alongside?.();
    })();
  }

  listKind(kind: string): StoredSnapshot[] {
    const rows = this.statements.listKind.all(kind) as { actor_id: string; kind: string; machine_version: number; snapshot: string }[];
    return rows.map((row) => ({ actorId: row.actor_id, kind: row.kind, machineVersion: row.machine_version, snapshot: JSON.parse(row.snapshot) }));
  }

  remove(actorId: string): void {
    this.statements.remove.run(actorId);
  }

  /** Removes a snapshot and, in the same transaction, what `alongside` removes with it. */
  removeWith(actorId: string, alongside: () => void): void {
    this.db.transaction(() => {
      this.statements.remove.run(actorId);
      alongside();
    })();
  }
}
