import { createCipheriv, createDecipheriv, createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SecretFile = { value: string; created: boolean };

/**
 * Reads a secret kept in the data dir, or makes one (mode 0600) the first time. The value is
 * returned once here so the caller can print a freshly made admin token exactly once.
 */
export function loadOrCreateSecret(dataDir: string, name: string, bytes = 32): SecretFile {
  const path = join(dataDir, name);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
  const value = randomBytes(bytes).toString('base64url');
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

/** AES-256-GCM output, each part stored as the caller likes. */
export type Sealed = { nonce: Buffer; sealed: Buffer; tag: Buffer };

/**
 * Seals a secret under the master key. The additional data names what the secret belongs to, so
 * a sealed value copied to another row does not open there.
 */
export function seal(masterKey: Buffer, additionalData: string, plaintext: Buffer): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(Buffer.from(additionalData));
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, sealed, tag: cipher.getAuthTag() };
}

/** Opens what `seal` made with the same key and additional data; throws on any mismatch. */
export function unseal(masterKey: Buffer, additionalData: string, box: Sealed): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', masterKey, box.nonce);
  decipher.setAAD(Buffer.from(additionalData));
  decipher.setAuthTag(box.tag);
  return Buffer.concat([decipher.update(box.sealed), decipher.final()]);
}

const textPrefix = 'sealed:v1:';

/** Secrets kept in text columns: `sealed:v1:<nonce>.<tag>.<ciphertext>` in base64url. */
export function textSealer(masterKey: Buffer) {
  return {
    seal(context: string, plaintext: string): string {
      const box = seal(masterKey, context, Buffer.from(plaintext, 'utf8'));
      return textPrefix + [box.nonce, box.tag, box.sealed].map((b) => b.toString('base64url')).join('.');
    },
    open(context: string, text: string): string {
      const [nonce, tag, sealed] = text.slice(textPrefix.length).split('.').map((part) => Buffer.from(part, 'base64url'));
      return unseal(masterKey, context, { nonce: nonce!, tag: tag!, sealed: sealed! }).toString('utf8');
    },
    isSealed: (text: string) => text.startsWith(textPrefix),
    fingerprint: (text: string) => createHmac('sha256', masterKey).update('fingerprint|').update(text).digest('base64url'),
  };
}

/**
 * Compares a presented secret with the expected one in time that depends on neither's length
 * or content: both are hashed to fixed-length digests first.
 */
export function secretsEqual(given: string, expected: string): boolean {
  return secretMatcher(expected)(given);
}

const digestOf = (value: string): Buffer => hash('sha256', value, 'buffer');

/** secretsEqual against one expected secret, its digest taken once (the admin check runs on every session start). */
export function secretMatcher(expected: string): (given: string) => boolean {
  const wanted = digestOf(expected);
  return (given) => timingSafeEqual(digestOf(given), wanted) && expected.length > 0;
}
