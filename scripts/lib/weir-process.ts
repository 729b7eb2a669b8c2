import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type WeirProcess = { child: ChildProcess; url: string; rtmpPort: number; srtPort: number; token: string; stop(): Promise<void> };

/** The built server (dist/src/main.js) as its own process, so its CPU can be measured alone. */
export async function startWeirProcess(dataDir: string, flags: string[] = [], token = 'bench'): Promise<WeirProcess> {
  // Built scripts sit beside dist/src; tests run this file from its source, beside dist/.
  const besideBuilt = fileURLToPath(new URL('../../src/main.js', import.meta.url));
  const main = existsSync(besideBuilt) ? besideBuilt : fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
  // WEIR_SERVER_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server alone.
  const nodeFlags = (process.env.WEIR_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, main, '--http-port', '0', '--rtmp-port', '0', '--srt-port', '0', '--http-host', '127.0.0.1', '--data-dir', dataDir, ...flags], {
    env: { ...process.env, WEIR_ADMIN_TOKEN: token, WEIR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const listening = await new Promise<{ httpPort: number; rtmpPort: number; srtPort: number }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; httpPort: number; rtmpPort: number; srtPort: number };
        if (entry.msg === 'weir is listening') resolve(entry);
      } catch {
        // not a log line
      }
    });
    child.once('exit', () => reject(new Error('weir exited during start')));
  });
  return {
    child,
    url: `http://127.0.0.1:${listening.httpPort}`,
    rtmpPort: listening.rtmpPort,
    srtPort: listening.srtPort,
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function weirApi<T>(server: WeirProcess, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process (bytes), from /proc; NaN once it has gone. */
export function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}
