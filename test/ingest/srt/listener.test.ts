import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../src/logger.js';
import { SrtListener, type SrtListenerOptions } from '../../../src/ingest/srt/listener.js';
import { controlType, encodeExtensionString, extensionType, handshakeType, hsFlags, parseHandshake, parsePacket, rejection, seqAdd, type Handshake } from '../../../src/ingest/srt/packet.js';
import type { PublishHandler } from '../../../src/ingest/contract.js';
import { tools } from '../../helpers/media.js';
import { callSrt, type CallerOptions, type SrtTestCaller } from '../../helpers/srt-caller.js';
import { publishSrt, srtFfmpeg as srtPeerFfmpeg, srtPeersMissing } from '../../helpers/srt-peers.js';
import { startUdpRelay } from '../../helpers/udp-relay.js';

/** A listener on its own, with a publish authority that knows one key and records what arrives. */
async function startListener(t: Test, latencyMs: number, options: Partial<SrtListenerOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'weir-srt-'));
  const received: Buffer[] = [];
  const sessions: string[] = [];
  const closed: string[] = [];
  const handler = (session: string): PublishHandler => ({ onUnit: () => {}, onClose: () => closed.push(session) });
  const listener = new SrtListener({
    host: '127.0.0.1',
    port: 0,
    latencyMs,
    log: createLogger('silent'),
    authority: {
      authorize: (request) => {
        if (request.streamKey === 'busy-key') return { refused: 'the stream keys are being prepared; publish again in a moment', code: 'PUBLISH_UNAVAILABLE' };
        if (request.streamKey !== 'the-key' && request.streamKey !== 'secret-key') return { refused: 'unknown stream key', code: 'PUBLISH_KEY_UNKNOWN' };
        sessions.push(request.sessionId);
        return handler(request.sessionId);
      },
      srtPassphraseFor: (key) => (key === 'the-key' || key === 'busy-key' ? null : key === 'secret-key' ? 'a-long-passphrase' : undefined),
    },
    capture: (_key, payload) => received.push(Buffer.from(payload)),
    ...options,
  });
  const port = await listener.start();
  t.teardown(async () => {
    await listener.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const bytes = () => received.reduce((sum, b) => sum + b.length, 0);
  const stats = () => listener.statsOf(Number(sessions.at(-1)!.slice(4)))!;
  return { listener, port, dir, received, sessions, closed, bytes, stats };
}

/** Resolves once the condition holds, checking whenever the event loop is free; rejects after the timeout. */
async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test('at 5 % loss with reordering and duplicates, the received transport stream is byte-identical to the one sent', { skip: srtPeersMissing }, async (t) => {
  const latencyMs = 400;
  const srt = await startListener(t, latencyMs);
  const known = join(srt.dir, 'known.ts');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '8', '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '1500k', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', known]);
  const sent = readFileSync(known);

  const relay = await startUdpRelay({ host: '127.0.0.1', port: srt.port }, 7);
  t.teardown(() => relay.close());
  relay.loss = 0.05;
  relay.reorder = 0.02;
  relay.duplicate = 0.01;
  // srt-live-transmit reads the file from stdin in 1316-byte packets: what it reads is what it sends.
  const transmit = spawn('/usr/bin/srt-live-transmit', ['-chunk:1316', '-a:no', '-q', 'file://con', `srt://127.0.0.1:${relay.port}?streamid=the-key&latency=${latencyMs}`], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise((resolve) => transmit.on('exit', resolve));
  t.teardown(async () => {
    transmit.kill('SIGKILL');
    await exited;
  });
  // srt-live-transmit discards what it reads before it is connected: feed it once it is.
  await until(() => srt.sessions.length > 0, 'the caller to connect');
  // Fed at about 4 Mbit/s. A receiver learns of a loss from the packets after it, so a live feed
  // never ends on a loss: after the file, null TS packets keep flowing until every byte is in.
  for (let offset = 0; offset < sent.length; offset += 1316 * 4) {
    transmit.stdin.write(sent.subarray(offset, offset + 1316 * 4));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const padding = Buffer.alloc(1316);
  for (let i = 0; i < 7; i++) padding.set([0x47, 0x1f, 0xff, 0x10], i * 188);
  const giveUp = Date.now() + 30_000;
  while (srt.bytes() < sent.length && Date.now() < giveUp) {
    transmit.stdin.write(padding);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const stats = srt.stats();
  transmit.stdin.end();
  t.ok(srt.bytes() >= sent.length, `every byte of the file arrived (${srt.bytes()} of ${sent.length})`);

  t.ok(relay.dropped > 20, `the relay dropped datagrams (${relay.dropped} of ${relay.dropped + relay.forwarded})`);
  t.ok(relay.reordered > 5, `and reordered some (${relay.reordered})`);
  t.ok(stats.packetsLost > 0 && stats.packetsRetransmitted > 0, `losses were detected (${stats.packetsLost}) and repaired by retransmission (${stats.packetsRetransmitted})`);
  t.equal(stats.packetsDropped, 0, 'nothing was given up as too late');
  t.ok(stats.rttMs * 4 <= latencyMs, `latency ${latencyMs} ms is at least 4 × RTT (${stats.rttMs} ms)`);
  t.ok(Buffer.concat(srt.received).subarray(0, sent.length).equals(sent), 'the bytes delivered are exactly the bytes sent');
});

t.test('ffmpeg feeding a known .ts with -c copy through 5 % loss: what arrives is byte for byte what its muxer sent', { skip: srtPeersMissing }, async (t) => {
  const latencyMs = 400;
  const srt = await startListener(t, latencyMs);
  const known = join(srt.dir, 'known.ts');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '1500k', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', known]);
  const relay = await startUdpRelay({ host: '127.0.0.1', port: srt.port }, 11);
  t.teardown(() => relay.close());
  relay.loss = 0.05;
  relay.reorder = 0.02;
  // ffmpeg re-muxes on -c copy, so its muxer's output is written to a file beside the SRT output (tee):
  // the same muxer settings give the same bytes. Looping keeps the feed going, so no loss sits at its end.
  const sentPath = join(srt.dir, 'sent.ts');
  const ffmpeg = spawn(srtPeerFfmpeg, ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', known, '-map', '0', '-c', 'copy', '-f', 'tee', `[f=mpegts]srt\\://127.0.0.1\\:${relay.port}?streamid=the-key&latency=${latencyMs * 1000}|[f=mpegts]${sentPath}`], { stdio: 'ignore' });
  const exited = new Promise((resolve) => ffmpeg.on('exit', resolve));
  t.teardown(async () => {
    ffmpeg.kill('SIGKILL');
    await exited;
  });
  const target = 1_500_000;
  await until(() => srt.bytes() >= target, `${target} bytes`);
  const stats = srt.stats();
  ffmpeg.kill('SIGINT'); // a clean stop flushes the file
  await exited;
  const sent = readFileSync(sentPath);
  const received = Buffer.concat(srt.received);
  t.ok(relay.dropped > 20, `the relay dropped datagrams (${relay.dropped})`);
  t.ok(stats.packetsRetransmitted > 0, `losses were repaired by retransmission (${stats.packetsRetransmitted})`);
  t.equal(stats.packetsDropped, 0, 'none given up');
  t.ok(sent.length >= received.length, `the muxer wrote at least what arrived (${sent.length} ≥ ${received.length})`);
  t.ok(received.equals(sent.subarray(0, received.length)), `the ${received.length} bytes delivered are exactly the first bytes the muxer sent`);
});

/** Seven null transport stream packets carrying a packet number, so each payload is distinct. */
function payload(n: number): Buffer {
  const body = Buffer.alloc(1316, 0xff);
  for (let i = 0; i < 7; i++) {
    body.set([0x47, 0x1f, 0xff, 0x10], i * 188);
    body.writeUInt32BE(n, i * 188 + 4);
  }
  return body;
}

async function connect(port: number, initialSeq: number, latencyMs: number): Promise<SrtTestCaller> {
  const result = await callSrt(port, { streamId: '#!::r=the-key,m=publish', initialSeq, latencyMs });
  if (!('caller' in result)) throw new Error(`refused with ${result.rejected}`);
  return result.caller;
}

const numbersOf = (received: Buffer[]) => received.map((b) => b.readUInt32BE(4));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

t.test('sequence numbers and timestamps that wrap mid-stream are followed: a gap across the wrap is NAKed, repaired and delivered in order', async (t) => {
  const srt = await startListener(t, 1000);
  // 2^31 sequence numbers and 2^32 µs of sender clock (71.6 min) both run out during the first 40 packets.
  const isn = 0x7fffffff - 20;
  const stamp = (n: number) => (2 ** 32 - 400_000 + n * 20_000) % 2 ** 32;
  const caller = await connect(srt.port, isn, 1000);
  t.teardown(() => caller.close());
  const missing = [24, 25, 26]; // after both wraps
  for (const n of range(0, 40)) if (!missing.includes(n)) caller.sendData(seqAdd(isn, n), stamp(n), payload(n));
  await until(() => caller.naks.length > 0, 'a NAK');
  t.same(caller.naks[0], missing.map((n) => seqAdd(isn, n)), 'the immediate NAK names the wrapped sequence numbers of the gap');
  t.same(numbersOf(srt.received), range(0, 24), 'data before the gap is delivered; data after it waits');
  for (const n of missing) caller.sendData(seqAdd(isn, n), stamp(n), payload(n), true);
  await until(() => srt.received.length === 40, 'all 40 packets');
  t.same(numbersOf(srt.received), range(0, 40), 'the repaired gap is delivered in order, nothing dropped as late');
  await until(() => caller.acks.at(-1) === seqAdd(isn, 40), 'the ACK past the wrap');
  t.equal(caller.acks.at(-1), 19, 'the ACK names the next expected sequence number after the wrap');
  t.equal(srt.stats().packetsDropped, 0);
});

t.test('a gap that is never repaired is skipped once the latency has passed, not before and not an hour later (after a clock wrap)', async (t) => {
  const latencyMs = 1000;
  const srt = await startListener(t, latencyMs);
  const isn = 5000;
  const caller = await connect(srt.port, isn, latencyMs);
  t.teardown(() => caller.close());
  // The caller's clock starts 0.2 s before its 32-bit wrap; packets are 20 ms apart on it.
  const start = Date.now();
  for (const n of range(0, 30)) if (n !== 20) caller.sendData(seqAdd(isn, n), (2 ** 32 - 200_000 + n * 20_000) % 2 ** 32, payload(n));
  await until(() => caller.naks.length > 0, 'a NAK');
  t.same(numbersOf(srt.received), range(0, 20), 'while the gap can still be repaired, what follows it waits');
  await until(() => srt.received.length === 29, 'the packets after the gap', 10_000);
  const waited = Date.now() - start;
  t.same(numbersOf(srt.received), [...range(0, 20), ...range(21, 30)], 'the lost packet is skipped and the rest delivered in order');
  t.ok(waited >= latencyMs * 0.9, `the gap was given its latency to be repaired (${waited} ms)`);
  t.equal(srt.stats().packetsDropped, 1, 'and counted as dropped');
});

t.test('DROPREQ skips the packets the sender gave up on at once, without waiting out the latency', async (t) => {
  const latencyMs = 20_000;
  const srt = await startListener(t, latencyMs);
  const isn = 77;
  const caller = await connect(srt.port, isn, latencyMs);
  t.teardown(() => caller.close());
  for (const n of range(0, 16)) if (n < 5 || n > 7) caller.sendData(seqAdd(isn, n), n * 20_000, payload(n));
  await until(() => caller.naks.length > 0, 'a NAK');
  t.same(numbersOf(srt.received), range(0, 5));
  caller.sendDropRequest(5, seqAdd(isn, 5), seqAdd(isn, 7));
  await until(() => srt.received.length === 13, 'the packets after the dropped range', 5000);
  t.same(numbersOf(srt.received), [...range(0, 5), ...range(8, 16)], 'delivery resumes after the dropped range, long before the 20 s latency');
  t.equal(srt.stats().packetsDropped, 3);
  await until(() => caller.acks.at(-1) === seqAdd(isn, 16), 'the ACK past the range');
});

t.test('modes Weir does not serve are refused at the handshake with their SRT rejection codes', async (t) => {
  const srt = await startListener(t, 120);
  const refused = (streamId: string, change?: CallerOptions['conclusion']) => refusedWith(srt.port, streamId, change);
  const withExtension = (type: number, body: Buffer) => (hs: Handshake) => ({ ...hs, extensions: [...hs.extensions, { type, body }] });
  const hsreqFlags = (flags: number) => (hs: Handshake) => ({
    ...hs,
    extensions: hs.extensions.map((e) => {
      if (e.type !== extensionType.hsreq) return e;
      const body = Buffer.from(e.body);
      body.writeUInt32BE(body.readUInt32BE(4) | flags, 4);
      return { ...e, body };
    }),
  });
  // A key material message as AES-GCM callers (libsrt 1.5.2+) send it: cipher 4, 16-byte salt and key.
  const gcmKm = Buffer.alloc(16 + 16 + 24);
  gcmKm.writeUInt32BE(0x12202901, 0);
  gcmKm[8] = 4;
  gcmKm[14] = 4;
  gcmKm[15] = 4;

  t.equal(await refused('the-key'), 'accepted', 'the plain publish is accepted (the baseline)');
  t.equal(await refused('no-such-key'), rejection.unauthorized, 'an unknown key');
  t.equal(await refused('#!::r=the-key,m=request'), rejection.forbidden, 'm=request (no SRT playback)');
  t.equal(await refused('busy-key'), rejection.unavailable, 'a stream that cannot take a publisher this instant says "try again"');
  t.equal(await refused('the-key', (hs) => ({ ...hs, version: 4 })), rejection.version, 'an HSv4 conclusion');
  t.equal(await refused('the-key', (hs) => ({ ...hs, extensions: hs.extensions.filter((e) => e.type !== extensionType.hsreq) })), rejection.version, 'a conclusion without HSREQ');
  t.equal(await refused('the-key', hsreqFlags(hsFlags.stream)), rejection.messageApi, 'file (stream) mode');
  t.equal(await refused('the-key', withExtension(extensionType.congestion, encodeExtensionString('file'))), rejection.congestion, 'file congestion control');
  t.equal(await refused('the-key', withExtension(extensionType.filter, encodeExtensionString('fec,cols:10,rows:5'))), rejection.filter, 'the FEC packet filter');
  t.equal(await refused('the-key', withExtension(extensionType.group, Buffer.alloc(8))), rejection.group, 'a socket group member');
  t.equal(await refused('secret-key', withExtension(extensionType.kmreq, gcmKm)), rejection.unsecure, 'AES-GCM key material');
  t.equal(await refused('secret-key'), rejection.unsecure, 'no key material for a stream with a passphrase');
});

/** A relay filter that drops the first datagram matching, and counts what it dropped. */
function dropFirst(match: (direction: 'up' | 'down', message: Buffer) => boolean) {
  const filter = Object.assign((direction: 'up' | 'down', message: Buffer) => {
    if (filter.dropped > 0 || !match(direction, message)) return false;
    filter.dropped++;
    return true;
  }, { dropped: 0 });
  return filter;
}

t.test('a caller whose conclusion response is lost asks again and gets the same answer, not a second connection', { skip: srtPeersMissing }, async (t) => {
  const srt = await startListener(t, 120);
  const relay = await startUdpRelay({ host: '127.0.0.1', port: srt.port });
  t.teardown(() => relay.close());
  const filter = dropFirst((direction, message) => {
    const packet = parsePacket(message);
    return direction === 'down' && packet?.kind === 'control' && packet.type === controlType.handshake && parseHandshake(packet.body)?.type === handshakeType.conclusion;
  });
  relay.drop = filter;
  const publisher = publishSrt(`srt://127.0.0.1:${relay.port}?streamid=the-key`, 30);
  t.teardown(() => publisher.stop());
  await until(() => srt.bytes() > 100_000, 'media from the publisher');
  t.equal(filter.dropped, 1, 'the first conclusion response was lost on the way');
  t.same(srt.sessions.length, 1, 'the repeated conclusion was answered from the cache: one publish, not two');
  t.equal(srt.stats().packetsDropped, 0);
});

t.test('a key refresh whose first announcement is lost is announced again and decrypts without a failure', { skip: srtPeersMissing }, async (t) => {
  const srt = await startListener(t, 120);
  const relay = await startUdpRelay({ host: '127.0.0.1', port: srt.port });
  t.teardown(() => relay.close());
  const filter = dropFirst((direction, message) => {
    const packet = parsePacket(message);
    return direction === 'up' && packet?.kind === 'control' && packet.type === controlType.user && packet.subtype === 3;
  });
  relay.drop = filter;
  const publisher = publishSrt(`srt://127.0.0.1:${relay.port}?streamid=secret-key`, 30, '&passphrase=a-long-passphrase&kmrefreshrate=500&kmpreannounce=100');
  t.teardown(() => publisher.stop());
  await until(() => srt.sessions.length > 0 && srt.stats().keyRefreshes >= 2, 'two key refreshes');
  const stats = srt.stats();
  t.equal(filter.dropped, 1, 'the first refresh announcement was lost on the way');
  t.equal(stats.decryptionFailures, 0, 'no packet failed to decrypt');
  t.equal(stats.packetsDropped, 0, 'and none was missing');
  const joined = Buffer.concat(srt.received);
  let synced = true;
  for (let i = 0; i < joined.length; i += 188) synced &&= joined[i] === 0x47;
  t.ok(synced, `all ${Math.floor(joined.length / 188)} transport packets decrypted to valid sync bytes`);
});

t.test('data for a connection from any other address is ignored', async (t) => {
  const srt = await startListener(t, 120);
  const caller = await connect(srt.port, 10, 120);
  t.teardown(() => caller.close());
  const other = createSocket('udp4');
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));
  t.teardown(() => other.close());
  caller.sendDataFrom(other, 10, 0, payload(666));
  caller.sendData(10, 0, payload(0));
  caller.sendData(11, 20_000, payload(1));
  await until(() => srt.received.length === 2, 'the real packets');
  t.same(numbersOf(srt.received), [0, 1], 'only the packets from the address that connected are taken');
});

t.test('a packet far beyond the receive window is not buffered and raises no flood of losses', async (t) => {
  const srt = await startListener(t, 120);
  const caller = await connect(srt.port, 10, 120);
  t.teardown(() => caller.close());
  caller.sendData(10, 0, payload(0));
  caller.sendData(seqAdd(10, 1_000_000), 10_000, payload(1));
  caller.sendData(11, 20_000, payload(2));
  await until(() => srt.received.length === 2, 'the in-window packets');
  t.same(numbersOf(srt.received), [0, 2]);
  t.same(caller.naks, [], 'no NAK for a million "missing" packets');
  t.equal(srt.stats().packetsDropped, 1, 'the stray packet is counted as dropped');
});

t.test('a gap is NAKed again periodically while it stays open', async (t) => {
  const srt = await startListener(t, 3000);
  const caller = await connect(srt.port, 10, 3000);
  t.teardown(() => caller.close());
  caller.sendData(10, 0, payload(0));
  caller.sendData(12, 20_000, payload(2));
  await until(() => caller.naks.length >= 3, 'repeated NAKs');
  t.ok(caller.naks.every((nak) => nak.length === 1 && nak[0] === 11), `each NAK names the one missing packet (${caller.naks.length} so far)`);
  caller.sendData(11, 10_000, payload(1), true);
  await until(() => srt.received.length === 3, 'the repaired gap');
  const naks = caller.naks.length;
  caller.sendData(13, 40_000, payload(3));
  await until(() => caller.acks.at(-1) === 14, 'the ACK for the next packet');
  t.equal(caller.naks.length, naks, 'once repaired, the gap is no longer NAKed');
});

t.test('an old gap is still NAKed on its own schedule while new gaps keep opening after it', async (t) => {
  const srt = await startListener(t, 3000);
  const caller = await connect(srt.port, 10, 3000);
  t.teardown(() => caller.close());
  caller.sendData(10, 0, payload(0));
  // Packet 11 stays missing; every 10 ms a new gap opens further on, each with its own immediate NAK,
  // as on a lossy link. Those must not keep postponing the repeat report of 11.
  const naksOf11 = () => caller.naks.filter((nak) => nak.includes(11)).length;
  let seq = 12;
  for (let i = 0; i < 200 && naksOf11() < 3; i++) {
    caller.sendData(seq + 1, (seq + 1) * 10_000, payload(seq + 1 - 10)); // seq itself never comes
    seq += 2;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.ok(naksOf11() >= 3, `11 was reported again while ${(seq - 12) / 2} later gaps opened (${naksOf11()} reports)`);
  t.ok(caller.naks.filter((nak) => nak.includes(seq - 2)).length >= 1, 'and the newest gap was reported too');
});

t.test('the listener keeps an idle link alive with keepalives, and a SHUTDOWN from the caller ends it at once', async (t) => {
  const srt = await startListener(t, 120);
  const caller = await connect(srt.port, 10, 120);
  caller.sendData(10, 0, payload(0));
  await until(() => caller.keepalives > 0, 'a keepalive', 3000);
  t.pass('with nothing to acknowledge for a second, the listener sent a keepalive');
  t.same(srt.closed, [], 'the link is still up');
  await caller.close();
  await until(() => srt.closed.length === 1, 'the connection to close', 1000);
  t.pass('a SHUTDOWN from the caller closes the connection without waiting for the idle timeout');
});

t.test('stopping the listener tells connected callers with SHUTDOWN', async (t) => {
  const srt = await startListener(t, 120);
  const caller = await connect(srt.port, 10, 120);
  t.teardown(() => caller.close());
  caller.sendData(10, 0, payload(0));
  await until(() => srt.received.length === 1, 'a packet');
  await srt.listener.stop();
  await until(() => caller.shutdown, 'a SHUTDOWN');
  t.same(srt.closed, srt.sessions, 'and the publish session is closed');
});

t.test('a caller refused over and over costs one log line per address and refusal code, with a count', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString().trim().split('\n')), done()) });
  const srt = await startListener(t, 120, { log: createLogger('info', sink) });
  const attempts = 30;
  for (let i = 0; i < attempts; i++) t.equal(await refusedWith(srt.port, 'no-such-key'), rejection.unauthorized);
  t.equal(await refusedWith(srt.port, '#!::r=the-key,m=request'), rejection.forbidden, 'another reason');
  const refusals = lines.map((line) => JSON.parse(line) as { msg: string; reason: string }).filter((entry) => entry.msg === 'refused SRT caller');
  t.same(refusals.map((entry) => entry.reason), ['unknown stream key', 'stream id mode "request" is not served; publish with m=publish'], `${attempts + 1} refusals, two lines: one per reason`);
});

t.test('callers cannot flood the log with their own stream id text: one line per address and code, reasons cut short', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString().trim().split('\n')), done()) });
  const srt = await startListener(t, 120, { log: createLogger('info', sink) });
  // Twenty different 500-character modes (the SRT stream id extension holds at most 512 bytes).
  for (let i = 0; i < 20; i++) t.equal(await refusedWith(srt.port, `#!::r=the-key,m=${String(i).padStart(3, '0')}${'x'.repeat(497)}`), rejection.forbidden);
  const refusals = lines.filter((line) => line.includes('refused SRT caller'));
  t.equal(refusals.length, 1, 'twenty refusals with different texts, one line');
  t.ok(lines.join('\n').length < 2_000, `the log stayed small (${lines.join('\n').length} characters)`);
});

async function refusedWith(port: number, streamId: string, conclusion?: CallerOptions['conclusion']): Promise<number | 'accepted'> {
  const result = await callSrt(port, { streamId, conclusion });
  if ('rejected' in result) return result.rejected;
  await result.caller.close();
  return 'accepted';
}

t.test('the bitrate shown is the current one: it falls to zero when a connected caller stops sending media', async (t) => {
  const srt = await startListener(t, 120);
  const caller = await connect(srt.port, 10, 120);
  t.teardown(() => caller.close());
  for (const n of range(0, 500)) caller.sendData(seqAdd(10, n), n * 1000, payload(n));
  await until(() => srt.received.length === 500, 'the burst');
  t.ok(srt.stats().bitrateKbps > 1000, `during the burst (${srt.stats().bitrateKbps} kbit/s)`);
  // Only keepalives from now on: the link stays up, the media rate goes to zero.
  const keepalive = setInterval(() => caller.sendKeepalive(), 500);
  t.teardown(() => clearInterval(keepalive));
  await until(() => srt.stats().bitrateKbps === 0, 'the bitrate to fall to zero', 10_000);
  t.equal(srt.closed.length, 0, 'while the connection is still up');
});
