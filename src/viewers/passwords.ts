import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * scrypt cost. The default is one of OWASP's equivalent settings (N=2^15, r=8, p=3: 32 MiB and
 * three passes per hash); the parameters are stored with each hash, so raising them later
 * leaves old hashes verifiable and they are rehashed at the next sign-in.
 */
export type ScryptCost = { N: number; r: number; p: number };

export const defaultScryptCost: ScryptCost = { N: 2 ** 15, r: 8, p: 3 };

const keyLength = 32;
const format = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  // maxmem must cover 128·N·r bytes, with room for Node's bookkeeping.
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFKC'), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** A memory-hard hash of a password, with its parameters and salt: `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string, cost: ScryptCost = defaultScryptCost): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether a password matches a stored hash (compared in constant time); false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = format.exec(stored);
  if (!match) return false;
  const cost = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const expected = Buffer.from(match[5]!, 'base64url');
  const key = await derive(password, Buffer.from(match[4]!, 'base64url'), cost);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Whether a stored hash was made with weaker parameters than `cost` (so it is redone at sign-in). */
export function needsRehash(stored: string, cost: ScryptCost = defaultScryptCost): boolean {
  const match = format.exec(stored);
  return !match || Number(match[1]) < cost.N || Number(match[2]) < cost.r || Number(match[3]) < cost.p;
}
