import type { CodedError } from '../errors.js';
import type { SourceFacts } from '../pipeline/encode/probe.js';
import type { Db } from './database.js';
import type { Protection } from '../drm/keys.js';

/** A rendition as the catalog publishes it. */
export type PublishedRendition = {
  id: string;
  kind: 'video' | 'audio';
  width: number | null;
  height: number | null;
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
  frameRate: number | null;
};

export type TitleState =
  | 'awaiting_upload'
  | 'probing'
  | 'encoding'
  | 'packaging'
  | 'keying'
  | 'publishing'
  | 'ready'
  | 'failed'
  | 'deleted';

export type TitleRecord = {
  id: string;
  title: string;
  description: string;
  tags: string[];
  protection: Protection;
  state: TitleState;
  progress: number;
  error: CodedError | null;
  facts: SourceFacts | null;
  renditions: PublishedRendition[] | null;
  createdAt: number;
  updatedAt: number;
};

/** The part of a title the actor owns and writes on every transition. */
export type TitleProgressView = Pick<TitleRecord, 'state' | 'progress' | 'error' | 'facts' | 'renditions'>;

type Row = {
  id: string;
  title: string;
  description: string;
  tags: string;
  protection: string;
  state: string;
  progress: number;
  error: string | null;
  facts: string | null;
  renditions: string | null;
  created_at: number;
  updated_at: number;
};

const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

function fromRow(row: Row): TitleRecord {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    tags: JSON.parse(row.tags) as string[],
    protection: row.protection as Protection,
    state: row.state as TitleState,
    progress: row.progress,
    error: parse<CodedError>(row.error),
    facts: parse<SourceFacts>(row.facts),
    renditions: parse<PublishedRendition[]>(row.renditions),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The catalog's titles: the read model that HTTP handlers query; actors keep it current. */
export class TitleCatalog {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO titles (id, title, description, tags, protection, state, progress, created_at, updated_at)
         VALUES (@id, @title, @description, @tags, @protection, 'awaiting_upload', 0, @now, @now)`,
      ),
      get: db.prepare(`SELECT * FROM titles WHERE id = ?`),
      list: db.prepare(`SELECT * FROM titles ORDER BY created_at DESC, id LIMIT ? OFFSET ?`),
      count: db.prepare(`SELECT COUNT(*) AS n FROM titles`),
      updateView: db.prepare(
        `UPDATE titles SET state = @state, progress = @progress, error = @error, facts = @facts,
           renditions = @renditions, updated_at = @now WHERE id = @id`,
      ),
      remove: db.prepare(`DELETE FROM titles WHERE id = ?`),
      readyIds: db.prepare(`SELECT id FROM titles WHERE state = 'ready'`),
      protections: db.prepare(`SELECT id, protection FROM titles`),
      countByState: db.prepare(`SELECT state, count(*) AS n FROM titles GROUP BY state`),
      listReady: db.prepare(`SELECT id, title, protection FROM titles WHERE state = 'ready' ORDER BY created_at DESC, id LIMIT ?`),
      discoverable: db.prepare(`SELECT id, title, created_at, ${db.engine === 'postgres' ? `(facts::json->>'durationMs')::bigint` : `json_extract(facts, '$.durationMs')`} AS duration_ms FROM titles WHERE state = 'ready'`),
    };
  }

  create(input: { id: string; title: string; description: string; tags: string[]; protection?: Protection }, now = Date.now()): TitleRecord {
    this.statements.insert.run({ ...input, protection: input.protection ?? 'none', tags: JSON.stringify(input.tags), now });
    return this.get(input.id)!;
  }

  get(id: string): TitleRecord | null {
    const row = this.statements.get.get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  list(limit: number, offset: number): { items: TitleRecord[]; total: number } {
    const rows = this.statements.list.all(limit, offset) as Row[];
    const { n } = this.statements.count.get() as { n: number };
    return { items: rows.map(fromRow), total: n };
  }

  updateView(id: string, view: TitleProgressView, now = Date.now()): void {
    this.statements.updateView.run({
      id,
      state: view.state,
      progress: view.progress,
      error: view.error ? JSON.stringify(view.error) : null,
      facts: view.facts ? JSON.stringify(view.facts) : null,
      renditions: view.renditions ? JSON.stringify(view.renditions) : null,
      now,
    });
  }

  remove(id: string): void {
    this.statements.remove.run(id);
  }

  /** Ready titles, newest first: what devices may be shown. */
  listReady(limit: number): { id: string; title: string; protection: Protection }[] {
    return this.statements.listReady.all(limit) as { id: string; title: string; protection: Protection }[];
  }

  /** Every ready title with what browsing needs (its length read inside SQLite, not parsed per row). */
  discoverable(): { id: string; name: string; createdAt: number; durationMs: number | null }[] {
    return (this.statements.discoverable.all() as { id: string; title: string; created_at: number; duration_ms: number | null }[]).map((row) => ({
      id: row.id,
      name: row.title,
      createdAt: row.created_at,
      durationMs: row.duration_ms,
    }));
  }

  /** Every title's protection, by id, in one read (a restore asks for all of them at once). */
  protections(): Map<string, Protection> {
    return new Map((this.statements.protections.all() as { id: string; protection: Protection }[]).map((row) => [row.id, row.protection]));
  }

  readyIds(): string[] {
    return (this.statements.readyIds.all() as { id: string }[]).map((r) => r.id);
  }

  /** How many titles are in each state (metrics). */
  countByState(): Map<string, number> {
    return new Map((this.statements.countByState.all() as { state: string; n: number }[]).map((row) => [row.state, row.n]));
  }

  /** Runs several catalog writes as one transaction. */
  transaction(work: () => void): void {
    this.db.transaction(work)();
  }
}
