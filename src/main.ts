#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, resolveCli, usage } from './config.js';
import { createLogger } from './logger.js';
import { cliCommands, runCli } from './cli/commands.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // `weir upload|titles|streams ...` talk to a running server; `weir start` (or no command) is the server.
  if ((cliCommands as readonly string[]).includes(args[0] ?? '')) {
    process.exitCode = await runCli(args, { stdout: process.stdout, stderr: process.stderr, env: process.env });
    return;
  }
  const worker = args[0] === 'worker';
  let request;
  try {
    request = resolveCli(args[0] === 'start' || worker ? args.slice(1) : args, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`weir: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (request.kind === 'help') {
    process.stdout.write(`${usage}\n`);
    return;
  }
  if (request.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const log = createLogger(request.config.log.level);
  if (worker) {
    // `weir worker`: encodes jobs the server queues (encode.workers = external), sharing its data dir.
    const { startWorker } = await import('./worker.js');
    const running = startWorker({ config: request.config, log });
    const stop = () => void running.stop().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  // Loaded here, not at the top: the CLI commands above start fast without the whole server.
  const { startServer } = await import('./server.js');
  let server;
  try {
    server = await startServer({ config: request.config, log });
  } catch (error) {
    log.fatal({ err: error }, 'could not start');
    process.exit(1);
  }
  if (server.adminTokenCreated) {
    // Shown once, on the start that made it; it is kept (mode 0600) in the data dir.
    process.stderr.write(
      `\nWeir generated an admin token (stored in ${request.config.dataDir}/admin-token):\n\n  ${server.adminToken}\n\nUse it as "Authorization: Bearer <token>" on admin routes. It will not be shown again.\n\n`,
    );
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

void main();
