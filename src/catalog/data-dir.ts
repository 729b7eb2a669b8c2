import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export type DataDirLock = { release(): void };

type Holder = { pid: number; host: string; since: string };

const lockFileName = 'weir.lock';
const holderFileName = 'weir.lock.json';

/** Thrown when another process holds the data dir; the message names the holder. */
export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

/** The data dir holds keys and credentials: only the owner may enter it. */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * Takes the data dir for this process before anything in it is read or written. The lock is a
 * SQLite file held in exclusive locking mode, so it rests on the kernel's file locks: it is
 * released when the process dies however it dies, and a second Weir (or a second server in the
 * same process) is refused at once. Who holds it is written beside it for the refusal message.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, lockFileName);
  createPrivate(path);
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock, and exclusive mode keeps it until close.
    db.exec('CREATE TABLE IF NOT EXISTS held (at INTEGER); DELETE FROM held; INSERT INTO held VALUES (unixepoch())');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw new DataDirLockedError(`The data dir ${dataDir} is in use by another Weir (${describeHolder(dataDir)}). Stop that one first, or start this one with another --data-dir.`);
  }
  const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeFileSync(join(dataDir, holderFileName), `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  return { release: () => db.close() };
}

function describeHolder(dataDir: string): string {
  try {
    const holder = JSON.parse(readFileSync(join(dataDir, holderFileName), 'utf8')) as Holder;
    return `process ${holder.pid} on ${holder.host}, since ${holder.since}`;
  } catch {
    return 'holder unknown';
  }
}

/**
 * Makes sure a file exists with mode 0600 before a library opens it. SQLite gives its WAL and
 * shared-memory files the mode of the database file, so those follow.
 */
export function createPrivate(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  for (const companion of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(companion)) chmodSync(companion, 0o600);
}
