import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const mainScript = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

export type WeirProcess = {
  child: ChildProcess;
  url: string;
  lines: LogLine[];
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves once stderr matches the pattern. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
};

/** Runs the built server (`npm run build` first) as its own process, as `npm start` would. */
export async function spawnWeir(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WeirProcess> {
  const child = spawn(process.execPath, [mainScript, '--http-port', '0', '--rtmp-port', '0', '--srt-port', '0', '--http-host', '127.0.0.1', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.predicate(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  let stderr = '';
  const stderrWaiters = new Set<() => void>();
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const check of stderrWaiters) check();
  });
  const waitForStderr = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stderr)) return;
        stderrWaiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        stderrWaiters.delete(check);
        reject(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms: ${stderr.slice(-500)}`));
      }, timeoutMs);
      stderrWaiters.add(check);
      check();
    });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  const waitForLog: WeirProcess['waitForLog'] = (predicate, timeoutMs = 60_000) => {
    const seen = lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then(() => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`weir exited before the expected log line; stderr: ${stderr.slice(-2000)}`));
      });
    });
  };

  const listening = await waitForLog((line) => line.msg === 'weir is listening');
  return { child, url: String(listening.url).replace('localhost', '127.0.0.1'), lines, waitForLog, exited, stderr: () => stderr, waitForStderr };
}

/** `weir worker` (from the build) as its own process, keeping its log lines. */
export function spawnWorker(args: string[]): { child: ChildProcess; lines: Record<string, unknown>[]; exited: Promise<void> } {
  const child = spawn(process.execPath, [mainScript, 'worker', ...args], { env: { ...process.env, WEIR_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  return { child, lines, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
}
