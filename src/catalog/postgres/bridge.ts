import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

export type QueryResult = { rows: Record<string, unknown>[]; rowCount: number };

/** A PostgreSQL error as the server reported it (`code` is its SQLSTATE). */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly detail: string | undefined,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

export type BridgeOptions = {
  url: string;
  /** The server cancels a statement running longer (statement_timeout). */
  statementTimeoutMs: number;
  /** A new connection that is not up within this is an error (an unreachable host fails fast). */
  connectTimeoutMs?: number;
  applicationName: string;
};

type Reply = { rows: Record<string, unknown>[]; rowCount: number } | { error: { message: string; code?: string; detail?: string } };

/*
 * Runs in the worker thread, which holds the connection (node-postgres, the maintained driver).
 * int8 and numeric come back as numbers: Weir keeps milliseconds and counts in them, all far
 * below 2^53. Statements run with a name are prepared once per connection. A connection that
 * breaks is made again on the next statement, except inside a transaction: the server rolled it
 * back, so everything up to the caller's ROLLBACK is refused rather than run outside of it.
 */
const workerSource = `
const { workerData } = require('node:worker_threads');
const signal = new Int32Array(workerData.signal);
const port = workerData.port;
let pg = null;
let loadError = null;
try { pg = require(workerData.pgPath); } catch (error) { loadError = error; }
const types = { getTypeParser: (oid, format) => (oid === 20 || oid === 1700) && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format) };
let client = null;
let names = new Map();
let inTransaction = false;
let lostTransaction = workerData.lostTransaction;
const drop = (which) => {
  if (client !== which) return;
  client = null;
  if (inTransaction) lostTransaction = true;
};
async function connection() {
  if (loadError) throw loadError;
  if (client) return client;
  const next = new pg.Client({ connectionString: workerData.url, types, statement_timeout: workerData.statementTimeoutMs, connectionTimeoutMillis: workerData.connectTimeoutMs, application_name: workerData.applicationName });
  next.on('error', () => drop(next));
  next.on('end', () => drop(next));
  await next.connect();
  client = next;
  names = new Map();
  return next;
}
const topLevelEnd = (text) => /^\\s*(COMMIT|ROLLBACK)\\s*$/i.test(text);
port.on('message', async (request) => {
  let reply;
  try {
    if (request.close) {
      const open = client;
      client = null;
      if (open) await open.end();
      reply = { rows: [], rowCount: 0 };
    } else if (lostTransaction) {
      if (!/^\\s*ROLLBACK\\s*$/i.test(request.text)) throw new Error('The connection to PostgreSQL was lost inside a transaction, which the server rolled back; roll back and try again.');
      lostTransaction = false;
      inTransaction = false;
      reply = { rows: [], rowCount: 0 };
    } else {
      const open = await connection();
      let name;
      if (request.prepare) { name = names.get(request.text); if (!name) names.set(request.text, (name = 'weir' + names.size)); }
      const result = await open.query({ text: request.text, values: request.values, name });
      if (/^\\s*BEGIN\\s*$/i.test(request.text)) inTransaction = true;
      else if (topLevelEnd(request.text)) inTransaction = false;
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      reply = { rows: last && last.rows ? last.rows : [], rowCount: last && last.rowCount ? last.rowCount : 0 };
    }
  } catch (error) {
    // A COMMIT or ROLLBACK that fails still ends the transaction. The driver may have reported the
    // broken socket before this failure (marking the transaction lost), so that mark ends here too.
    if (topLevelEnd(request.text || '')) { inTransaction = false; lostTransaction = false; }
    reply = { error: { message: String(error && error.message), code: error && error.code, detail: error && error.detail } };
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

/**
 * PostgreSQL behind a synchronous call, so the stores keep the shape they have on SQLite (whose
 * driver is synchronous too). One connection lives in a worker thread; a query is posted to it
 * and this thread waits on a shared flag until the answer is there. The wait costs one round trip
 * to the server, and only the write path and cold reads pay it: media requests never query.
 */
export class PostgresBridge {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  /** Each worker gets a flag of its own: one being replaced must not signal its successor's caller. */
  private signal = new Int32Array(new SharedArrayBuffer(4));
  private closed = false;
  /** Whether a transaction is open, as this side sees it (a new worker must not run its rest outside one). */
  private inTransaction = false;

  constructor(private readonly options: BridgeOptions) {
    this.start(false);
  }

  private start(lostTransaction: boolean): void {
    this.signal = new Int32Array(new SharedArrayBuffer(4));
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        pgPath: createRequire(import.meta.url).resolve('pg'),
        signal: this.signal.buffer,
        port: channel.port2,
        url: this.options.url,
        statementTimeoutMs: this.options.statementTimeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
        applicationName: this.options.applicationName,
        lostTransaction,
      },
      transferList: [channel.port2],
      // The source above is CommonJS: flags such as --input-type=module must not reach it.
      execArgv: [],
    });
    // The thread must not keep a stopping process alive; close() ends the connection first.
    this.worker.unref();
  }

  /** Runs one statement (or, without values, several separated by semicolons) and waits for it. */
  query(text: string, values?: readonly unknown[], prepare = false): QueryResult {
    if (this.closed) throw new Error('The PostgreSQL connection is closed.');
    if (!this.worker) this.start(this.inTransaction);
    const result = this.call({ text, values: values ? values.map(toWire) : undefined, prepare });
    if (/^\s*BEGIN\s*$/i.test(text)) this.inTransaction = true;
    else if (/^\s*(COMMIT|ROLLBACK)\s*$/i.test(text)) this.inTransaction = false;
    return result;
  }

  close(): void {
    if (this.closed) return;
    try {
      if (this.worker) this.call({ close: true });
    } catch {
      // Closing a connection that already broke: nothing left to end.
    }
    this.closed = true;
    void this.worker?.terminate();
  }

  private call(request: { text?: string; close?: boolean; values?: unknown[]; prepare?: boolean }): QueryResult {
    Atomics.store(this.signal, 0, 0);
    this.port!.postMessage(request);
    // A little longer than the server's own limit, so its clear error normally arrives first.
    const waitMs = this.options.statementTimeoutMs + 5_000;
    const deadline = performance.now() + waitMs;
    // Wait for the flag itself, not for any wake-up: the worker notifies after it sets the flag,
    // so the notify of the previous answer can arrive late, while this call already waits.
    let timedOut = false;
    while (Atomics.load(this.signal, 0) === 0) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        timedOut = true;
        break;
      }
      Atomics.wait(this.signal, 0, 0, remaining);
    }
    if (timedOut) {
      // The connection hangs (a server gone without closing it): drop this worker; the next
      // statement starts another, which refuses the rest of an open transaction.
      void this.worker!.terminate();
      this.worker = null;
      if (request.text && /^\s*(COMMIT|ROLLBACK)\s*$/i.test(request.text)) this.inTransaction = false;
      throw new Error(`PostgreSQL did not answer within ${waitMs} ms; the connection was dropped and will be made again.`);
    }
    const message = receiveMessageOnPort(this.port!);
    if (!message) {
      // Cannot happen with the flag set after the answer; if it did, a late answer could be read
      // as the next statement's, so this worker is replaced.
      void this.worker!.terminate();
      this.worker = null;
      throw new Error('PostgreSQL answered nothing; the connection was dropped and will be made again.');
    }
    const reply = message.message as Reply;
    if ('error' in reply) {
      if (request.text && /^\s*(COMMIT|ROLLBACK)\s*$/i.test(request.text)) this.inTransaction = false;
      throw new PostgresError(reply.error.message, reply.error.code, reply.error.detail);
    }
    for (const row of reply.rows) {
      for (const key in row) {
        const value = row[key];
        // bytea arrives as a plain Uint8Array after crossing threads; the stores expect Buffers.
        if (value instanceof Uint8Array && !Buffer.isBuffer(value)) row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      }
    }
    return reply;
  }
}

/** What crosses to the worker: Buffers as bytes, booleans as the 0/1 the schema stores. */
function toWire(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
