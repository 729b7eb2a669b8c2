import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { cpuSeconds } from './weir-process.js';

/** HTTP load for the API benchmarks: clients in loops, Weir and a bare Express hello-world in turns. */

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

export type Load = { perSecond: number; p50: number; p99: number; failures: number };

export const agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });

/** Requests counted over one or more slices of a load (latencies in ms). */
export class Tally {
  readonly latencies: number[] = [];
  failures = 0;
  seconds = 0;
  /** Every answer, warm-ups included (for CPU per request). */
  answered = 0;
  cpuSeconds = 0;
  /** Requests sent so far by each client, so a later slice goes on to the next viewers. */
  readonly sent = new Map<number, number>();

  load(): Load {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { perSecond: sorted.length / this.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), failures: this.failures };
  }

  /** Server CPU per answer (µs), warm-ups included. */
  cpuPerAnswer(): number {
    return (this.cpuSeconds / this.answered) * 1e6;
  }
}

export type Send = (client: number, n: number) => Promise<number>;

/** `clients` loops, each sending one request after another for `slice` seconds after `warmupMs` not counted. */
export async function drive(tally: Tally, clients: number, slice: number, warmupMs: number, send: Send): Promise<void> {
  const counting = performance.now() + warmupMs;
  const end = counting + slice * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      let n = tally.sent.get(client) ?? 0;
      while (performance.now() < end) {
        const started = performance.now();
        const status = await send(client, n++).catch(() => 0);
        tally.answered++;
        if (started < counting) continue;
        if (status >= 200 && status < 300) tally.latencies.push(performance.now() - started);
        else tally.failures++;
      }
      tally.sent.set(client, n);
    }),
  );
  tally.seconds += slice;
}

/** One load alone: a second of warm-up (connections opening, caches filling), then `seconds`. */
export async function driveAlone(clients: number, seconds: number, send: Send): Promise<Load> {
  const tally = new Tally();
  await drive(tally, clients, seconds, 1000, send);
  return tally.load();
}

/**
 * Two servers under the same load, taking turns in four slices (a shared machine's load drifts;
 * turns make the drift fall on both alike), with each process's CPU counted.
 */
export async function sideBySide(clients: number, seconds: number, first: { pid: number; send: Send }, second: { pid: number; send: Send }): Promise<[Tally, Tally]> {
  const tallies: [Tally, Tally] = [new Tally(), new Tally()];
  const rounds = 4;
  for (let round = 0; round < rounds; round++) {
    const warmupMs = round === 0 ? 1000 : 250;
    for (const [i, server] of [first, second].entries()) {
      const before = cpuSeconds(server.pid);
      await drive(tallies[i]!, clients, seconds / rounds, warmupMs, server.send);
      tallies[i]!.cpuSeconds += cpuSeconds(server.pid) - before;
    }
  }
  return tallies;
}

export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: agent });
  return { status: response.statusCode, text: await response.body.text() };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await request(url, { method: 'GET', headers, dispatcher: agent });
  return { status: response.statusCode, text: await response.body.text() };
}

/** A bare Express app answering POST / and GET / with a small JSON body: the same framework with nothing behind it. */
export async function startHelloWorld(): Promise<{ url: string; child: ChildProcess }> {
  const script = `
    const express = require('express');
    const app = express();
    app.post('/', express.json(), (req, res) => res.status(201).json({ id: 'hello', contentId: req.body.contentId }));
    app.get('/', (req, res) => res.json({ id: 'hello' }));
    const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  return { url: `http://127.0.0.1:${port}/`, child };
}

export const formatLoad = (load: Load): string => `${load.perSecond.toFixed(0).padStart(8)} ${load.p50.toFixed(1).padStart(6)} ms ${load.p99.toFixed(1).padStart(6)} ms`;
