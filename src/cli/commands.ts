import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError } from 'commander';
import { ApiError, call, resolveTarget, UsageError, type CliTarget } from './client.js';

type Io = { stdout: NodeJS.WritableStream & { isTTY?: boolean }; stderr: NodeJS.WritableStream & { isTTY?: boolean }; env: NodeJS.ProcessEnv };
type Title = { id: string; title: string; state: string; progress: number | null; error: { code: string; message: string } | null; createdAt: string };
type Stream = { id: string; name: string; state: string; streamKey: string; ingest: { rtmp: string; srt: string } };
type Global = { server?: string; dataDir?: string; json?: boolean };

/** The sub-commands an operator scripts, beside `weir start`. */
export const cliCommands = ['upload', 'titles', 'streams'] as const;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A progress bar on stderr when it is a terminal (stdout stays clean for --json); nothing otherwise. */
function bar(io: Io, label: string): { update(fraction: number): void; stop(): void } {
  if (!io.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const progress = new SingleBar({ format: `${label.padEnd(9)} [{bar}] {percentage}%`, stream: io.stderr as NodeJS.WritableStream & { isTTY: boolean }, hideCursor: true });
  progress.start(100, 0);
  return { update: (fraction) => progress.update(Math.round(fraction * 100)), stop: () => progress.stop() };
}

/** Uploads a file as a new title, then follows it to ready (or failed). */
async function upload(target: CliTarget, io: Io, file: string, options: { title?: string; json?: boolean }): Promise<number> {
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    throw new UsageError(`${JSON.stringify(file)} is not a readable file.`);
  }
  const created = await call<Title>(target, 'POST', '/v1/titles', { title: options.title ?? basename(file) });
  const uploading = bar(io, 'upload');
  let sent = 0;
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      uploading.update(sent / Math.max(1, size));
      done(null, chunk);
    },
  });
  await call(target, 'PUT', `/v1/titles/${created.id}/source`, Readable.toWeb(createReadStream(file).pipe(counting)) as ReadableStream);
  uploading.update(1);
  uploading.stop();
  io.stderr.write(`uploaded ${size} bytes as title ${created.id}\n`);
  const encoding = bar(io, 'encode');
  let title = created;
  // The title's state until it settles; encode progress moves the bar.
  while (title.state !== 'ready' && title.state !== 'failed') {
    await pause(500);
    title = await call<Title>(target, 'GET', `/v1/titles/${created.id}`);
    if (title.state === 'encoding' && title.progress !== null) encoding.update(title.progress);
  }
  encoding.update(title.state === 'ready' ? 1 : (title.progress ?? 0));
  encoding.stop();
  if (options.json) io.stdout.write(`${JSON.stringify(title)}\n`);
  if (title.state === 'failed') {
    io.stderr.write(`weir: ${title.error?.code ?? 'FAILED'}: ${title.error?.message ?? 'the title failed'}\n`);
    return 1;
  }
  if (!options.json) io.stdout.write(`${title.id} ready\n`);
  return 0;
}

/** Runs one CLI command; resolves with the process exit code (0 done, 1 refused or failed, 2 misused). */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const program = new Command('weir')
    .description('Talks to a running Weir server over its HTTP API with the admin token.')
    .option('--server <url>', 'the server (default: WEIR_URL, else http://localhost:8080)')
    .option('--data-dir <dir>', 'where the server keeps its admin token, when WEIR_ADMIN_TOKEN is not set (default: data)')
    .option('--json', 'print JSON for scripts')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
  let code = 0;
  const target = () => resolveTarget(program.opts<Global>(), io.env);
  program
    .command('upload <file>')
    .description('upload a file as a new title and wait until it is ready')
    .option('--title <title>', 'its title (default: the file name)')
    .action(async (file: string, options: { title?: string }) => {
      code = await upload(target(), io, file, { ...options, json: program.opts<Global>().json });
    });
  program
    .command('titles')
    .description('list titles, newest first')
    .action(async () => {
      const { items } = await call<{ items: Title[] }>(target(), 'GET', '/v1/titles?limit=100');
      if (program.opts<Global>().json) io.stdout.write(`${JSON.stringify(items)}\n`);
      else for (const title of items) io.stdout.write(`${title.id}  ${title.state.padEnd(15)}  ${title.title}\n`);
    });
  const streams = program.command('streams').description('live streams');
  streams
    .command('create')
    .description('create a live stream and print where to publish it')
    .requiredOption('--name <name>', 'its name')
    .option('--mode <mode>', 'passthrough or ladder')
    .action(async (options: { name: string; mode?: string }) => {
      const stream = await call<Stream>(target(), 'POST', '/v1/live-streams', { name: options.name, ...(options.mode ? { mode: options.mode } : {}) });
      if (program.opts<Global>().json) io.stdout.write(`${JSON.stringify(stream)}\n`);
      else io.stdout.write(`${stream.id}\nrtmp: ${stream.ingest.rtmp}\nsrt:  ${stream.ingest.srt}\n`);
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      io.stderr.write(`weir: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.stderr.write(`weir: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
