import { createDecipheriv, pbkdf2Sync } from 'node:crypto';

/** A key material message (draft-sharabayko-srt §3.2.2), as carried in KMREQ and in key refreshes. */
export type KeyMaterial = { keyFlags: number; cipher: number; salt: Buffer; keyLength: number; wrapped: Buffer };

export const kmCipher = { ctr: 2, gcm: 4 } as const;

export function parseKeyMaterial(body: Buffer): KeyMaterial | null {
  if (body.length < 16) return null;
  const word0 = body.readUInt32BE(0);
  const version = (word0 >>> 28) & 0x7;
  const packetType = (word0 >>> 24) & 0xf;
  const signature = (word0 >>> 8) & 0xffff;
  if (version !== 1 || packetType !== 2 || signature !== 0x2029) return null;
  const keyFlags = word0 & 0x3;
  const saltLength = body[14]! * 4;
  const keyLength = body[15]! * 4;
  const count = keyFlags === 3 ? 2 : 1;
  const wrappedLength = 8 + count * keyLength;
  if (![16, 24, 32].includes(keyLength) || body.length < 16 + saltLength + wrappedLength) return null;
  return {
    keyFlags,
    cipher: body[8]!,
    salt: Buffer.from(body.subarray(16, 16 + saltLength)),
    keyLength,
    wrapped: Buffer.from(body.subarray(16 + saltLength, 16 + saltLength + wrappedLength)),
  };
}

/**
 * The stream keys inside a key material message: KEK = PBKDF2-HMAC-SHA1(passphrase, last 8 salt
 * bytes, 2048 rounds), then RFC 3394 unwrap. A wrong passphrase fails the unwrap's integrity check.
 */
export function unwrapKeys(km: KeyMaterial, passphrase: string): { even?: Buffer; odd?: Buffer } {
  const kek = pbkdf2Sync(passphrase, km.salt.subarray(km.salt.length - 8), 2048, km.keyLength, 'sha1');
  const decipher = createDecipheriv(`id-aes${km.keyLength * 8}-wrap`, kek, Buffer.alloc(8, 0xa6));
  const keys = Buffer.concat([decipher.update(km.wrapped), decipher.final()]);
  if (km.keyFlags === 3) return { even: keys.subarray(0, km.keyLength), odd: keys.subarray(km.keyLength, 2 * km.keyLength) };
  return km.keyFlags === 1 ? { even: keys } : { odd: keys };
}

/** Decrypts data payloads (AES-CTR) with the even or odd key their KK bits name. */
export class SrtDecryptor {
  private even: Buffer | undefined;
  private odd: Buffer | undefined;
  private salt: Buffer;
  private keyLength: number;
  failures = 0;

  constructor(km: KeyMaterial, private readonly passphrase: string) {
    this.salt = km.salt;
    this.keyLength = km.keyLength;
    this.install(km);
  }

  /** A (re)announced key: unwrap it into its slot (key refresh keeps the other slot playing). */
  install(km: KeyMaterial): void {
    const keys = unwrapKeys(km, this.passphrase);
    this.salt = km.salt;
    this.keyLength = km.keyLength;
    if (keys.even) this.even = keys.even;
    if (keys.odd) this.odd = keys.odd;
  }

  /** Counter block: salt bytes 0..13 with the packet sequence number XORed into bytes 10..13; block counter from 0. */
  decrypt(seq: number, keyFlags: number, payload: Buffer): Buffer | null {
    const key = keyFlags === 1 ? this.even : keyFlags === 2 ? this.odd : undefined;
    if (!key) {
      this.failures++;
      return null;
    }
    const iv = Buffer.alloc(16);
    this.salt.copy(iv, 0, 0, 14);
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ seq) >>> 0, 10);
    return createDecipheriv(`aes-${this.keyLength * 8}-ctr`, key, iv).update(payload);
  }
}
