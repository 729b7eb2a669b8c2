import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/catalog/database.js';
import { hs256Tokens } from '../../src/hs256.js';
import { hashPassword } from '../../src/viewers/passwords.js';
import { ViewerStore } from '../../src/viewers/store.js';
import type { WeirProcess } from './weir-process.js';

/** A test pattern with a tone, made once per size and kept in the temp dir between runs. */
export function benchSource(ffmpeg: string, size: { width: number; height: number; seconds: number }): string {
  const dir = join(tmpdir(), 'weir-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `src-${size.height}p-${size.seconds}s.mp4`);
  if (!existsSync(path)) {
    const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size.width}x${size.height}:rate=30`, '-f', 'lavfi', '-i', 'sine=sample_rate=48000'];
    execFileSync(ffmpeg, [...args, '-t', String(size.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', `${path}.tmp.mp4`]);
    execFileSync('mv', [`${path}.tmp.mp4`, path]);
  }
  return path;
}

/** Creates a title from the file and waits until it is ready; `packages` puts it in those. */
export async function readyBenchTitle(server: WeirProcess, file: string, options: { protection?: string; packages?: string[] } = {}): Promise<string> {
  const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ title: 'bench', ...(options.protection ? { protection: options.protection } : {}) });
  const { id } = (await (await fetch(`${server.url}/v1/titles`, { method: 'POST', headers, body })).json()) as { id: string };
  const upload = await fetch(`${server.url}/v1/titles/${id}/source`, { method: 'PUT', headers: { authorization: headers.authorization }, body: readFileSync(file) });
  if (upload.status !== 202) throw new Error(`upload answered ${upload.status}`);
  for (;;) {
    const { state } = (await (await fetch(`${server.url}/v1/titles/${id}`, { headers })).json()) as { state: string };
    if (state === 'ready') break;
    if (state === 'failed') throw new Error('the benchmark title failed');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (options.packages) await fetch(`${server.url}/v1/titles/${id}/access`, { method: 'PUT', headers, body: JSON.stringify({ packages: options.packages }) });
  return id;
}

/**
 * Signed-in viewers written straight into a catalog before its server starts (signing in is not
 * what the benchmarks measure), on a plan with these packages; returns access tokens the server
 * accepts when it runs with WEIR_VIEWER_TOKEN_SECRET = `secret`.
 */
export async function seedBenchViewers(options: { dataDir: string; databaseUrl?: string | null; secret: string; count: number; packages: string[]; maxStreams: number }): Promise<string[]> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(options.dataDir, { url: options.databaseUrl ?? null });
  const store = new ViewerStore(db);
  const now = Date.now();
  store.putPlan({ id: 'bench', name: 'Bench', maxStreams: options.maxStreams, maxDevices: 10, maxHeight: 1080, packages: options.packages }, now);
  const passwordHash = await hashPassword('a benchmark viewer password');
  const ids: string[] = [];
  db.transaction(() => {
    for (let i = 0; i < options.count; i++) {
      const id = randomUUID();
      store.createViewer({ id, email: `viewer${i}@bench.example`, passwordHash, displayName: '', maxRating: null, planId: 'bench', subscriptionStartsAt: now, subscriptionEndsAt: null, createdAt: now });
      store.registerDevice(id, { id: 'browser', family: 'web', model: null, appVersion: null }, 10, now);
      ids.push(id);
    }
  })();
  db.close();
  const signer = hs256Tokens(options.secret, { issuer: 'weir', audience: 'weir-viewer' });
  const issuedAt = Math.floor(now / 1000);
  return ids.map((viewerId) => signer.sign({ did: 'browser', fam: 'web', sub: viewerId, iat: issuedAt, exp: issuedAt + 7200 }));
}
