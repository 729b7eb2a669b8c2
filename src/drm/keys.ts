import { randomBytes } from 'node:crypto';
import type { SourcedKey } from '../pipeline/cmaf/encrypt.js';

export type Protection = 'none' | 'cenc' | 'cbcs' | 'aes-128';
export const protections = ['none', 'cenc', 'cbcs', 'aes-128'] as const satisfies readonly Protection[];


/** Where keys come from (shaka-packager's KeySource, reduced to what Weir asks). */
export type KeySource = {
  getKey(request: { contentId: string; protection: Exclude<Protection, 'none'>; period: number }): Promise<SourcedKey>;
};

/** Weir makes its own keys: random KID, key and IV. */
export class LocalKeySource implements KeySource {
  async getKey(): Promise<SourcedKey> {
    return { kid: randomBytes(16), key: randomBytes(16), iv: randomBytes(16), pssh: [] };
  }
}

/** The master key: WEIR_MASTER_KEY (64 hex digits or base64 of 32 bytes), else the data dir's. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new RangeError(`WEIR_MASTER_KEY must be 32 bytes as 64 hex digits or base64; it decodes to ${key.length} bytes`);
  return key;
}
