import type { CodedError } from '../errors.js';
import type { Db } from './database.js';
import type { Protection } from '../drm/keys.js';

export type StreamMode = 'passthrough' | 'ladder';
export type StreamState = 'idle' | 'starting' | 'live' | 'reconnecting' | 'ended' | 'deleted';

export type StreamRecord = {
  id: string;
  name: string;
  mode: StreamMode;
  reconnectWindowSeconds: number;
  archive: boolean;
  streamKey: string;
  protection: Protection;
  /** Live key rotation: a new key every this many segments (0: one key per stream). */
  keyRotationSegments: number;
  /** SRT encryption passphrase (a credential, sealed at rest); null for clear SRT. */
  srtPassphrase: string | null;
  state: StreamState;
  error: CodedError | null;
  archiveTitleIds: string[];
  createdAt: number;
  updatedAt: number;
};

export type StreamView = Pick<StreamRecord, 'state' | 'error' | 'archiveTitleIds'>;

type Row = {
  id: string;
  name: string;
  mode: string;
  reconnect_window_seconds: number;
  archive: number;
  stream_key: string;
  protection: string;
  key_rotation_segments: number;
  srt_passphrase: string | null;
  state: string;
  error: string | null;
  archive_title_ids: string;
  created_at: number;
  updated_at: number;
};

/** How the catalog keeps secrets at rest: sealed text bound to a context. Declared by its user. */
export type SecretSealer = {
  seal(context: string, plaintext: string): string;
  open(context: string, sealed: string): string;
  isSealed(text: string): boolean;
};

const passphraseContext = (streamId: string) => `live_streams.srt_passphrase|${streamId}`;

function openPassphrase(id: string, text: string, sealer: SecretSealer): string {
  try {
    return sealer.open(passphraseContext(id), text);
  } catch {
    throw new Error(`the SRT passphrase of live stream ${id} does not open with this master key (was WEIR_MASTER_KEY or the data dir's master-key changed?)`);
  }
}

function fromRow(row: Row, sealer: SecretSealer): StreamRecord {
  return {
    id: row.id,
    name: row.name,
    mode: row.mode as StreamMode,
    reconnectWindowSeconds: row.reconnect_window_seconds,
    archive: row.archive === 1,
    streamKey: row.stream_key,
    protection: row.protection as Protection,
    keyRotationSegments: row.key_rotation_segments,
    srtPassphrase: row.srt_passphrase === null ? null : openPassphrase(row.id, row.srt_passphrase, sealer),
    state: row.state as StreamState,
    error: row.error ? (JSON.parse(row.error) as CodedError) : null,
    archiveTitleIds: JSON.parse(row.archive_title_ids) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Live streams in the catalog; the stream actors keep `state` current. */
export class StreamCatalog {
  private readonly statements;

  constructor(
    db: Db,
    private readonly sealer: SecretSealer,
  ) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO live_streams (id, name, mode, reconnect_window_seconds, archive, stream_key, protection, key_rotation_segments, srt_passphrase, state, created_at, updated_at)
         VALUES (@id, @name, @mode, @reconnectWindowSeconds, @archive, @streamKey, @protection, @keyRotationSegments, @srtPassphrase, 'idle', @now, @now)`,
      ),
      get: db.prepare(`SELECT * FROM live_streams WHERE id = ?`),
      all: db.prepare(`SELECT * FROM live_streams ORDER BY created_at DESC, id`),
      updateView: db.prepare(`UPDATE live_streams SET state = @state, error = @error, archive_title_ids = @archiveTitleIds, updated_at = @now WHERE id = @id`),
      setKey: db.prepare(`UPDATE live_streams SET stream_key = ?, updated_at = ? WHERE id = ?`),
      setPassphrase: db.prepare(`UPDATE live_streams SET srt_passphrase = ?, updated_at = ? WHERE id = ?`),
      remove: db.prepare(`DELETE FROM live_streams WHERE id = ?`),
    };
    // Passphrases stored before they were sealed are sealed on the first start that can.
    const plain = db.prepare(`SELECT id, srt_passphrase FROM live_streams WHERE srt_passphrase IS NOT NULL`).all() as { id: string; srt_passphrase: string }[];
    for (const row of plain) if (!sealer.isSealed(row.srt_passphrase)) this.setSrtPassphrase(row.id, row.srt_passphrase, Date.now());
  }

  create(
    input: Pick<StreamRecord, 'id' | 'name' | 'mode' | 'reconnectWindowSeconds' | 'archive' | 'streamKey'> & Partial<Pick<StreamRecord, 'protection' | 'keyRotationSegments' | 'srtPassphrase'>>,
    now = Date.now(),
  ): StreamRecord {
    const passphrase = input.srtPassphrase ?? null;
    this.statements.insert.run({
      protection: 'none',
      keyRotationSegments: 0,
      ...input,
      srtPassphrase: passphrase === null ? null : this.sealer.seal(passphraseContext(input.id), passphrase),
      archive: input.archive ? 1 : 0,
      now,
    });
    return this.get(input.id)!;
  }

  get(id: string): StreamRecord | null {
    const row = this.statements.get.get(id) as Row | undefined;
    return row ? fromRow(row, this.sealer) : null;
  }

  all(): StreamRecord[] {
    return (this.statements.all.all() as Row[]).map((row) => fromRow(row, this.sealer));
  }

  updateView(id: string, view: StreamView, now = Date.now()): void {
    this.statements.updateView.run({ id, state: view.state, error: view.error ? JSON.stringify(view.error) : null, archiveTitleIds: JSON.stringify(view.archiveTitleIds), now });
  }

  setKey(id: string, streamKey: string, now = Date.now()): void {
    this.statements.setKey.run(streamKey, now, id);
  }

  setSrtPassphrase(id: string, passphrase: string | null, now = Date.now()): void {
    this.statements.setPassphrase.run(passphrase === null ? null : this.sealer.seal(passphraseContext(id), passphrase), now, id);
  }

  remove(id: string): void {
    this.statements.remove.run(id);
  }
}
