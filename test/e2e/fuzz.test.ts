/**
 * A fuzz harness against a whole running server (its own process): random and mutated RTMP chunk
 * streams, SRT datagrams, HTTP paths, headers and JSON bodies, tus requests and upload bytes.
 * What must hold: the process never dies, memory stays bounded, nothing answers 5xx, and every
 * refusal of a Weir route carries a code from the error catalog.
 *
 * Bounded for CI (WEIR_FUZZ_SECONDS, default 20 s in all); WEIR_FUZZ_SEED replays a run.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCatalog } from '../../src/errors.js';
import { handshakeBytes, publisherOpening } from '../../scripts/lib/rtmp-abuse.js';
import { residentBytes, startWeirProcess, weirApi, type WeirProcess } from '../../scripts/lib/weir-process.js';

const totalSeconds = Number(process.env.WEIR_FUZZ_SECONDS ?? 20);
const seed = Number(process.env.WEIR_FUZZ_SEED ?? Date.now() % 2 ** 31);
const token = 'fuzz-admin-token';
/** WEIR_FUZZ_ONLY=rtmp,srt,http,upload narrows a run to some targets. */
const only = new Set((process.env.WEIR_FUZZ_ONLY ?? 'rtmp,srt,http,upload').split(','));

/** mulberry32: small, fast and seedable, so a failing run can be replayed. */
function prng(start: number) {
  let a = start >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  // Four bytes per draw: datagrams are made by the hundred thousand, and this process must not starve.
  const bytes = (n: number) => {
    const b = Buffer.alloc(Math.ceil(n / 4) * 4);
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.floor(next() * 4294967296), i);
    return b.subarray(0, n);
  };
  return { next, int, pick, bytes };
}
const random = prng(seed);

/** Flips, deletes, duplicates and inserts bytes: a valid input made slightly wrong. */
function mutate(input: Buffer): Buffer {
  const out = Buffer.from(input);
  const edits = 1 + random.int(8);
  let result = out;
  for (let i = 0; i < edits; i++) {
    const at = random.int(Math.max(1, result.length));
    switch (random.int(4)) {
      case 0:
        result[at] = random.int(256);
        break;
      case 1:
        result = Buffer.concat([result.subarray(0, at), result.subarray(at + 1 + random.int(16))]);
        break;
      case 2:
        result = Buffer.concat([result.subarray(0, at), result.subarray(at, at + 1 + random.int(64)), result.subarray(at)]);
        break;
      default:
        result = Buffer.concat([result.subarray(0, at), random.bytes(1 + random.int(32)), result.subarray(at)]);
    }
  }
  return result;
}

type Finding = string;

let server: WeirProcess;
let dataDir: string;
let streamKey: string;
let titleId: string;
const findings: Finding[] = [];
const tried: Record<string, number> = {};
const count = (what: string) => (tried[what] = (tried[what] ?? 0) + 1);

t.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'weir-fuzz-'));
  const config = join(dataDir, 'fuzz-config.json');
  // Room for the fuzzer's parallel connections and sessions; every other limit as shipped.
  writeFileSync(config, JSON.stringify({ rtmp: { maxPendingPerAddress: 64, handshakeTimeoutSeconds: 2, publishTimeoutSeconds: 3 }, playback: { sessionsPerMinutePerAddress: 100_000 } }));
  server = await startWeirProcess(join(dataDir, 'data'), ['--config', config], token);
  streamKey = (await weirApi<{ streamKey: string }>(server, '/v1/live-streams', { name: 'fuzzed' })).streamKey;
  titleId = (await weirApi<{ id: string }>(server, '/v1/titles', { title: 'fuzzed' })).id;
  t.comment(`fuzz seed ${seed} (WEIR_FUZZ_SEED=${seed} replays it), ${totalSeconds} s`);
});
t.teardown(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `one` in `parallel` loops until the deadline. */
async function during(seconds: number, parallel: number, one: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (Date.now() < deadline) await one();
    }),
  );
}

function rtmpInput(): Buffer {
  switch (random.int(3)) {
    case 0:
      return random.bytes(1 + random.int(4096));
    case 1:
      return Buffer.concat([handshakeBytes(), random.bytes(random.int(8192))]);
    default:
      return mutate(publisherOpening(random.next() < 0.5 ? streamKey : 'x'.repeat(random.int(40))));
  }
}

function sendRtmp(bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(server.rtmpPort, '127.0.0.1');
    socket.on('error', () => {});
    socket.resume();
    // Long enough for the server to act on what it got; the server may close first.
    const timer = setTimeout(() => socket.destroy(), 150);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => socket.write(bytes));
  });
}

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const pieces = ['..', '.', '%2e%2e', '%2f', '%00', '%c0%af', '%ff', 'master.m3u8', 'v0', 'index.m3u8', 'seg-1.m4s', 'init.mp4', 'part-1.0.m4s', 'manifest.mpd', 'clearkey', '\u00e9', '%', '%%', '~', 'x'.repeat(300), ' ', ';', '?', '#'];
const prefixes = ['/media/', '/v1/titles/', '/v1/live-streams/', '/v1/uploads/', '/v1/playback-sessions', '/healthz', '/time', '/', '/MEDIA/', '/v1/titles/ID/retry', '/v1/live-streams/ID/reset-key'];

function randomPath(): string {
  const prefix = random.pick(prefixes).replace('ID', random.next() < 0.5 ? titleId : 'nope');
  const parts = Array.from({ length: random.int(6) }, () => random.pick(pieces));
  return prefix + parts.join(random.next() < 0.8 ? '/' : '');
}

function randomJson(depth = 0): unknown {
  switch (random.int(depth > 2 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return random.next() * 1e12 * (random.next() < 0.5 ? -1 : 1);
    case 2:
      return random.pick(['', 'x', 'a'.repeat(random.int(5000)), '\u0000', '\ud83d\ude00', titleId, streamKey, 'cenc', 'ladder']);
    case 3:
      return random.next() < 0.5;
    case 4:
      return random.int(10);
    case 5:
      return Array.from({ length: random.int(5) }, () => randomJson(depth + 1));
    default: {
      const keys = ['title', 'contentId', 'name', 'mode', 'protection', 'tags', 'description', 'srtPassphrase', 'reconnectWindowSeconds', 'archive', 'keyRotationSegments', '__proto__', 'constructor'];
      return Object.fromEntries(Array.from({ length: random.int(6) }, () => [random.pick(keys), randomJson(depth + 1)]));
    }
  }
}

const tusRoutes = (path: string) => /^\/v1\/uploads/i.test(path);

async function httpRequest(): Promise<void> {
  const kind = random.int(4);
  let path = randomPath();
  let method: string = random.pick(methods);
  const headers: Record<string, string> = {};
  let body: string | Buffer | undefined;
  if (random.next() < 0.5) headers.authorization = `Bearer ${random.next() < 0.7 ? token : random.pick(['', 'x', token.toUpperCase(), token + 'x'])}`;
  if (kind === 1) {
    // Headers: odd names and values, odd lengths.
    count('http headers');
    for (let i = 0; i < random.int(6); i++) {
      headers[random.pick(['content-type', 'content-length', 'x-request-id', 'range', 'if-none-match', 'transfer-encoding', 'x-forwarded-host', 'origin', 'accept-encoding', 'x-weird'])] = random.pick(['', 'application/json', 'bytes=0-', 'bytes=99999999-', '../../etc', 'x'.repeat(random.int(4000)), '-1', 'chunked', 'gzip', '\u00e9']);
    }
  } else if (kind === 2) {
    count('JSON bodies');
    method = 'POST';
    path = random.pick(['/v1/titles', '/v1/live-streams', '/v1/playback-sessions', `/v1/live-streams/nope/reset-key`]);
    headers['content-type'] = random.next() < 0.9 ? 'application/json' : random.pick(['text/plain', 'application/x-www-form-urlencoded', '']);
    body = random.next() < 0.8 ? JSON.stringify(randomJson()) : mutate(Buffer.from(JSON.stringify(randomJson()))).toString('latin1');
  } else if (kind === 3) {
    count('tus requests');
    path = random.next() < 0.5 ? '/v1/uploads' : `/v1/uploads/${random.pick(['', 'x', '..', 'a'.repeat(100)])}`;
    method = random.pick(['POST', 'PATCH', 'HEAD', 'OPTIONS', 'DELETE']);
    headers.authorization = `Bearer ${token}`;
    headers['tus-resumable'] = random.pick(['1.0.0', '0.2', '']);
    headers['upload-length'] = random.pick(['10', '-1', 'x', '99999999999999', '0']);
    headers['upload-offset'] = random.pick(['0', '5', '-3', 'x']);
    headers['upload-metadata'] = random.pick([`titleId ${Buffer.from(titleId).toString('base64')}`, 'titleId', 'titleId !!!', `titleId ${Buffer.from('../../x').toString('base64')}`, '']);
    headers['content-type'] = 'application/offset+octet-stream';
    if (method === 'PATCH') body = random.bytes(random.int(64));
  } else count('http paths');
  let response: Response;
  try {
    response = await fetch(`${server.url}${path}`, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body, signal: AbortSignal.timeout(10_000) });
  } catch {
    return; // a request the client library refuses to send, or a connection the server closed
  }
  const text = method === 'HEAD' ? '' : await response.text().catch(() => '');
  if (response.status >= 500 && response.status !== 503) findings.push(`${method} ${path.slice(0, 120)} answered ${response.status}: ${text.slice(0, 200)}`);
  if (response.status >= 400 && method !== 'HEAD' && !tusRoutes(path)) {
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    if (!code || !(code in errorCatalog)) findings.push(`${method} ${path.slice(0, 120)} answered ${response.status} without a coded error: ${text.slice(0, 200)}`);
  }
}

async function srtDatagrams(): Promise<void> {
  const socket = createSocket('udp4');
  const handshake = Buffer.alloc(64);
  handshake.writeUInt32BE(0x80000000, 0); // control packet: handshake
  handshake.writeUInt32BE(4, 16); // version 4 induction
  for (let i = 0; i < 50; i++) {
    count('SRT datagrams');
    const datagram = random.next() < 0.5 ? random.bytes(random.int(1500)) : mutate(handshake);
    await new Promise<void>((resolve) => socket.send(datagram, server.srtPort, '127.0.0.1', () => resolve()));
  }
  socket.close();
}

t.test('fuzzed RTMP, SRT, HTTP and upload inputs never crash the server, never answer 5xx, and every refusal is coded', { timeout: (totalSeconds + 120) * 1000 }, async (t) => {
  const pid = server.child.pid!;
  const before = residentBytes(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pid) || 0)), 100);
  t.teardown(() => clearInterval(sampler));

  await Promise.all([
    only.has('rtmp') &&
      during(totalSeconds * 0.4, 6, async () => {
        count('RTMP connections');
        await sendRtmp(rtmpInput());
      }),
    only.has('srt') && during(totalSeconds * 0.3, 2, srtDatagrams),
    only.has('http') && during(totalSeconds * 0.9, 8, httpRequest),
    only.has('upload') &&
    (async () => {
      // Upload bytes: each makes ffprobe run, so a few are enough.
      for (let i = 0; i < 4; i++) {
        count('upload bodies');
        // Under this load a request may be refused (408 when this process is slow to send its
        // body); that is the server doing its job, and the check below still covers it.
        const created = await fetch(`${server.url}/v1/titles`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: `fuzzed upload ${i}` }) });
        if (created.status >= 500) findings.push(`POST /v1/titles answered ${created.status}`);
        if (created.status !== 201) continue;
        const title = (await created.json()) as { id: string };
        const put = await fetch(`${server.url}/v1/titles/${title.id}/source`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: random.bytes(random.int(200_000)) });
        if (put.status >= 500) findings.push(`PUT source answered ${put.status}`);
      }
    })(),
  ]);
  clearInterval(sampler);

  const inputs = Object.values(tried).reduce((a, b) => a + b, 0);
  t.comment(`inputs tried: ${inputs} (${Object.entries(tried).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  t.equal(server.child.exitCode, null, 'the server process is alive');
  // A fresh connection: a pooled one may have idled past the server's keep-alive meanwhile.
  const health = await new Promise<number | string>((resolve) => {
    get(`${server.url}/healthz`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', (error) => resolve(error.message));
  });
  t.equal(health, 200, 'and answers');
  t.same(findings.slice(0, 20), [], `no 5xx and no uncoded refusal (${findings.length} findings)`);
  // The garbage of hundreds of thousands of inputs grows V8's heap to a plateau (about 105 MiB
  // for RTMP alone, 120 MiB for HTTP alone, 165 MiB for both, whether for 20 s or 120 s); a
  // leak would pass any bound given time. Where the plateau settles varies from run to run:
  // 158–215 MiB in seven runs on one machine, of the same code (so the bound is above that).
  const grew = (peak - before) / 2 ** 20;
  t.ok(grew < 256, `resident memory grew ${grew.toFixed(1)} MiB at most (bound 256 MiB)`);
});
