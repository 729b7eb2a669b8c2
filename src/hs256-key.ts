import { webcrypto } from 'node:crypto';

/**
 * An HMAC-SHA-256 key imported once for jose. Given raw bytes, jose imports a Web Crypto key on
 * every sign and verify (about half of its ~100 µs); on the session-start path that is paid twice
 * per start.
 */
export function hs256Key(secret: string): () => Promise<webcrypto.CryptoKey> {
  let key: Promise<webcrypto.CryptoKey> | null = null;
  return () => (key ??= webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']));
}
