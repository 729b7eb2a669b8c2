import { randomBytes } from 'node:crypto';
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
