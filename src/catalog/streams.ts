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
  /** A keyed digest (not reversible without the master key): for unique lookups of sealed values. */
  fingerprint(text: string): string;
};

/** Where the secrets the catalog hands out are registered, so no log line can show them. */
export type SecretSink = { add(secret: string): void };

const passphraseContext = (streamId: string) => `live_streams.srt_passphrase|${streamId}`;
const streamKeyContext = (streamId: string) => `live_streams.stream_key|${streamId}`;

function openPassphrase(id: string, text: string, sealer: SecretSealer): string {
  try {
    return sealer.open(passphraseContext(id), text);
  } catch {
    throw new Error(`the SRT passphrase of live stream ${id} does not open with this master key (was WEIR_MASTER_KEY or the data dir's master-key changed?)`);
  }
}

function openStreamKey(id: string, text: string, sealer: SecretSealer): string {
  try {
    return sealer.open(streamKeyContext(id), text);
  } catch {
    throw new Error(`the stream key of live stream ${id} does not open with this master key (was WEIR_MASTER_KEY or the data dir's master-key changed?)`);
  }
}

function fromRow(row: Row, sealer: SecretSealer, secrets: SecretSink): StreamRecord {
  const streamKey = sealer.isSealed(row.stream_key) ? openStreamKey(row.id, row.stream_key, sealer) : row.stream_key;
  const srtPassphrase = row.srt_passphrase === null ? null : openPassphrase(row.id, row.srt_passphrase, sealer);
  secrets.add(streamKey);
  if (srtPassphrase !== null) secrets.add(srtPassphrase);
  return {
    id: row.id,
    name: row.name,
    mode: row.mode as StreamMode,
    reconnectWindowSeconds: row.reconnect_window_seconds,
    archive: row.archive === 1,
    streamKey,
    protection: row.protection as Protection,
    keyRotationSegments: row.key_rotation_segments,
    srtPassphrase,
    state: row.state as StreamState,
    error: row.error ? (JSON.parse(row.error) as CodedError) : null,
    archiveTitleIds: JSON.parse(row.archive_title_ids) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Live streams in the catalog; the stream actors keep `state` current. Stream keys and SRT
 * passphrases are credentials: sealed at rest (a keyed fingerprint keeps keys unique), and
 * registered with the log scrubber whenever they are read.
 */
export class StreamCatalog {
  private readonly statements;

  constructor(
    private readonly db: Db,
    private readonly sealer: SecretSealer,
    private readonly secrets: SecretSink = { add: () => {} },
  ) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO live_streams (id, name, mode, reconnect_window_seconds, archive, stream_key, stream_key_hash, protection, key_rotation_segments, srt_passphrase, state, created_at, updated_at)
         VALUES (@id, @name, @mode, @reconnectWindowSeconds, @archive, @streamKey, @streamKeyHash, @protection, @keyRotationSegments, @srtPassphrase, 'idle', @now, @now)`,
      ),
      get: db.prepare(`SELECT * FROM live_streams WHERE id = ?`),
      all: db.prepare(`SELECT * FROM live_streams ORDER BY created_at DESC, id`),
      updateView: db.prepare(`UPDATE live_streams SET state = @state, error = @error, archive_title_ids = @archiveTitleIds, updated_at = @now WHERE id = @id`),
      setKey: db.prepare(`UPDATE live_streams SET stream_key = ?, stream_key_hash = ?, updated_at = ? WHERE id = ?`),
      setPassphrase: db.prepare(`UPDATE live_streams SET srt_passphrase = ?, updated_at = ? WHERE id = ?`),
      remove: db.prepare(`DELETE FROM live_streams WHERE id = ?`),
    };
    // Passphrases stored before they were sealed are sealed on the first start that can.
    const plain = db.prepare(`SELECT id, srt_passphrase FROM live_streams WHERE srt_passphrase IS NOT NULL`).all() as { id: string; srt_passphrase: string }[];
    for (const row of plain) if (!sealer.isSealed(row.srt_passphrase)) this.setSrtPassphrase(row.id, row.srt_passphrase, Date.now());
    // Likewise stream keys stored in clear by earlier versions.
    const keys = db.prepare(`SELECT id, stream_key FROM live_streams`).all() as { id: string; stream_key: string }[];
    for (const row of keys) if (!sealer.isSealed(row.stream_key)) this.setKey(row.id, row.stream_key, Date.now());
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
      streamKey: this.sealer.seal(streamKeyContext(input.id), input.streamKey),
      streamKeyHash: this.sealer.fingerprint(input.streamKey),
      archive: input.archive ? 1 : 0,
      now,
    });
    return this.get(input.id)!;
  }

  get(id: string): StreamRecord | null {
    const row = this.statements.get.get(id) as Row | undefined;
    return row ? fromRow(row, this.sealer, this.secrets) : null;
  }

  all(): StreamRecord[] {
    return (this.statements.all.all() as Row[]).map((row) => fromRow(row, this.sealer, this.secrets));
  }

  updateView(id: string, view: StreamView, now = Date.now()): void {
    this.statements.updateView.run({ id, state: view.state, error: view.error ? JSON.stringify(view.error) : null, archiveTitleIds: JSON.stringify(view.archiveTitleIds), now });
  }

  /** A new stream key and, unless `passphrase` is undefined, a new SRT passphrase (null: none), in one transaction. */
  resetKey(id: string, streamKey: string, passphrase?: string | null, now = Date.now()): void {
    this.secrets.add(streamKey);
    if (passphrase) this.secrets.add(passphrase);
    this.db.transaction(() => {
      this.setKey(id, streamKey, now);
      if (passphrase !== undefined) this.setSrtPassphrase(id, passphrase, now);
    })();
  }

  private setKey(id: string, streamKey: string, now: number): void {
    this.statements.setKey.run(this.sealer.seal(streamKeyContext(id), streamKey), this.sealer.fingerprint(streamKey), now, id);
  }

  private setSrtPassphrase(id: string, passphrase: string | null, now: number): void {
    this.statements.setPassphrase.run(passphrase === null ? null : this.sealer.seal(passphraseContext(id), passphrase), now, id);
  }

  remove(id: string): void {
    this.statements.remove.run(id);
  }
}
