import type { Pssh } from '../pipeline/bmff/boxes.js';
import type { SourcedKey } from '../pipeline/cmaf/encrypt.js';
import type { KeySource, Protection } from '../drm/keys.js';
import { seal, unseal } from '../secrets.js';
import type { Db } from './database.js';

type Row = { content_id: string; period: number; kid: string; protection: string; sealed: Buffer; nonce: Buffer; tag: Buffer; pssh: string };

type StoredPssh = { version: 0 | 1; systemId: string; kids: string[]; data: string };

/**
 * Content keys at rest: key and IV sealed with AES-256-GCM under the master key, bound to their
 * content id, period and KID as additional data, so a row moved to other content will not open.
 * KIDs are public and stay readable.
 */
export class KeyStore {
  private readonly statements;

  constructor(
    db: Db,
    private readonly masterKey: Buffer,
  ) {
    if (masterKey.length !== 32) throw new RangeError(`the master key must be 32 bytes, received ${masterKey.length}`);
    this.statements = {
      insert: db.prepare(
        `INSERT INTO content_keys (content_id, period, kid, protection, sealed, nonce, tag, pssh, created_at)
         VALUES (@contentId, @period, @kid, @protection, @sealed, @nonce, @tag, @pssh, @now)`,
      ),
      get: db.prepare(`SELECT * FROM content_keys WHERE content_id = ? AND period = ?`),
      all: db.prepare(`SELECT * FROM content_keys WHERE content_id = ? ORDER BY period`),
      remove: db.prepare(`DELETE FROM content_keys WHERE content_id = ?`),
    };
  }

  private additionalData(contentId: string, period: number, kid: string): string {
    return `${contentId}|${period}|${kid}`;
  }

  put(contentId: string, period: number, protection: Protection, key: SourcedKey): void {
    const kid = Buffer.from(key.kid).toString('hex');
    const box = seal(this.masterKey, this.additionalData(contentId, period, kid), Buffer.concat([key.key, key.iv]));
    const pssh: StoredPssh[] = key.pssh.map((p) => ({ version: p.version, systemId: Buffer.from(p.systemId).toString('hex'), kids: p.kids.map((k) => Buffer.from(k).toString('hex')), data: Buffer.from(p.data).toString('base64') }));
    this.statements.insert.run({ contentId, period, kid, protection, ...box, pssh: JSON.stringify(pssh), now: Date.now() });
  }

  private open(row: Row): SourcedKey & { period: number; protection: Protection } {
    const material = unseal(this.masterKey, this.additionalData(row.content_id, row.period, row.kid), row);
    const pssh = (JSON.parse(row.pssh) as StoredPssh[]).map(
      (p): Pssh => ({ type: 'pssh', version: p.version, systemId: Buffer.from(p.systemId, 'hex'), kids: p.kids.map((k) => Buffer.from(k, 'hex')), data: Buffer.from(p.data, 'base64') }),
    );
    return { kid: Buffer.from(row.kid, 'hex'), key: material.subarray(0, 16), iv: material.subarray(16, 32), pssh, period: row.period, protection: row.protection as Protection };
  }

  get(contentId: string, period: number) {
    const row = this.statements.get.get(contentId, period) as Row | undefined;
    return row ? this.open(row) : null;
  }

  /** Every key of a content item (all periods), for licenses. */
  all(contentId: string) {
    return (this.statements.all.all(contentId) as Row[]).map((row) => this.open(row));
  }

  /** The stored key, or a new one from the source (stored before it is used). */
  async getOrCreate(source: KeySource, contentId: string, period: number, protection: Exclude<Protection, 'none'>): Promise<SourcedKey> {
    const existing = this.get(contentId, period);
    if (existing) return existing;
    const key = await source.getKey({ contentId, protection, period });
    this.put(contentId, period, protection, key);
    return key;
  }

  remove(contentId: string): void {
    this.statements.remove.run(contentId);
  }
}
