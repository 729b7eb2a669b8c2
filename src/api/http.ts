import { hash, randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { errorCatalog, isWeirError, WeirError } from '../errors.js';
import type { Logger } from '../logger.js';
import { secretMatcher } from '../secrets.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** A pino child logger bound to this request's id. */
    log: Logger;
    id: string;
  }
}

/** Media URLs carry the playback token in their path: never write it to a log (any letter case). */
export function redactPath(url: string): string {
  return url.replace(/^(\/media\/[^/]+\/)[^/?]+/i, '$1[token]');
}

// A caller's request id is kept for tracing only if it is a plain identifier; it never names a file.
const requestIdPattern = /^[A-Za-z0-9._:-]{1,64}$/;

export function requestLogger(log: Logger) {
  const debug = log.isLevelEnabled('debug');
  const prototypes = new WeakSet<object>();
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    req.id = given && requestIdPattern.test(given) ? given : randomUUID();
    // The child logger is made on first use (most media requests never log), by a getter on the
    // requests' prototype: defining it on each request made every request object slow to read.
    const prototype = Object.getPrototypeOf(req) as object;
    if (!prototypes.has(prototype)) {
      prototypes.add(prototype);
      Object.defineProperty(prototype, 'log', {
        configurable: true,
        get(this: Request & { childLog?: Logger }) {
          return (this.childLog ??= log.child({ reqId: this.id }));
        },
      });
    }
    res.setHeader('x-request-id', req.id);
    // Every request is logged at debug level only; server errors are logged where they are sent
    // (sendError), so the hot path pays no listener per request.
    if (debug) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        req.log.debug({ method: req.method, path: redactPath(req.originalUrl).slice(0, 300), status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
    }
    next();
  };
}

/** The bearer token of an Authorization header, or null. */
export function bearerOf(header: string | null | undefined): string | null {
  return /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim() ?? null;
}

export type AdminCheck = (req: Request) => boolean;

/** Whether a request carries the admin token (compared in constant time). */
export function adminCheck(adminToken: string): AdminCheck {
  const matches = secretMatcher(adminToken);
  return (req) => {
    const given = bearerOf(req.header('authorization'));
    return given !== null && matches(given);
  };
}

export function requireAdmin(adminToken: string) {
  const isAdmin = adminCheck(adminToken);
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!isAdmin(req)) {
      next(new WeirError('ADMIN_AUTH_REQUIRED', req.header('authorization') ? 'The admin bearer token is not valid.' : 'This route needs "Authorization: Bearer <admin token>".'));
      return;
    }
    next();
  };
}

/** Whether a request carries a body (a declared length above zero, or chunked). */
export function hasBody(req: Request): boolean {
  const length = req.header('content-length');
  return req.header('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

/**
 * A JSON body parser that says what is wrong: a body sent without a JSON content type is refused
 * with 415 naming the header, instead of arriving as "undefined". A request without a body
 * passes (routes whose body is optional treat it as {}).
 */
export function jsonBody(limit: string): RequestHandler {
  const parse = express.json({ limit });
  const maxBytes = bytesOf(limit);
  return (req, res, next) => {
    if (!hasBody(req)) return next();
    // What nearly every client sends (plain UTF-8 JSON of a declared length) is read here; the
    // rest (compressed, other charsets, chunked) goes through body-parser.
    const type = req.headers['content-type'];
    if (type !== undefined && plainJson.test(type) && req.headers['content-encoding'] === undefined && req.headers['content-length'] !== undefined) {
      readSmallJson(req, maxBytes, next);
      return;
    }
    if (!req.is(['application/json', 'application/*+json'])) {
      const given = req.header('content-type');
      next(new WeirError('UNSUPPORTED_MEDIA_TYPE', `This route takes a JSON body with "content-type: application/json"; the request sent ${given ? `"${given.slice(0, 100)}"` : 'no content-type header'}.`));
      return;
    }
    parse(req, res, next);
  };
}

const plainJson = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;

/** '16kb' → 16384: the limits the routes give, in body-parser's notation. */
function bytesOf(limit: string): number {
  const match = /^(\d+)(b|kb|mb)$/i.exec(limit);
  if (!match) throw new RangeError(`A body limit such as "16kb" was expected, not ${JSON.stringify(limit)}.`);
  return Number(match[1]) * { b: 1, kb: 1024, mb: 1024 * 1024 }[match[2]!.toLowerCase() as 'b' | 'kb' | 'mb'];
}

/** An error as body-parser reports it, so the error handler answers both readers' failures alike. */
function bodyError(type: string, status: number, message: string, extra: { length?: number; limit?: number } = {}): LibraryError {
  return Object.assign(new Error(message), { type, status, ...extra });
}

/**
 * Reads a body of declared length into req.body: one listener per event and JSON.parse, without
 * body-parser's decoder, type checks and async-context binding (a fifth of a session start's
 * request handling). Same limits and the same coded errors.
 */
function readSmallJson(req: Request, maxBytes: number, next: NextFunction): void {
  const declared = Number(req.headers['content-length']);
  if (!Number.isSafeInteger(declared) || declared < 0) return next(bodyError('request.size.invalid', 400, 'invalid content-length'));
  if (declared > maxBytes) return next(bodyError('entity.too.large', 413, 'request entity too large', { length: declared, limit: maxBytes }));
  const chunks: Buffer[] = [];
  let received = 0;
  let settled = false;
  const settle = (error?: LibraryError) => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    req.off('error', onClose);
    next(error);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > declared) settle(bodyError('request.size.invalid', 400, 'request size did not match content length'));
    else chunks.push(chunk);
  };
  const onEnd = () => {
    if (received !== declared) return settle(bodyError('request.size.invalid', 400, 'request size did not match content length'));
    let text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    // As body-parser's strict mode: an object or an array, nothing else.
    const first = /\S/.exec(text)?.[0];
    if (first !== '{' && first !== '[') return settle(bodyError('entity.parse.failed', 400, first === undefined ? 'the body is empty' : 'a JSON object or array was expected'));
    try {
      req.body = JSON.parse(text);
    } catch (error) {
      return settle(bodyError('entity.parse.failed', 400, (error as Error).message));
    }
    settle();
  };
  const onClose = () => settle(bodyError('request.aborted', 400, 'request aborted'));
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
  req.on('error', onClose);
}

/**
 * A request body must arrive whole within `ms` (a trickled body cannot hold a socket open).
 * Uploads use an idle timeout instead (see uploadIdleTimeout).
 */
export function bodyDeadline(ms: number): RequestHandler {
  // One sweep a second over the requests still receiving, instead of a timer and two listeners
  // per request: every session start and heartbeat has a body.
  const receiving = new Map<Request, { res: Response; due: number }>();
  let sweeper: NodeJS.Timeout | null = null;
  const sweep = () => {
    const now = Date.now();
    for (const [req, { res, due }] of receiving) {
      if (req.complete || res.writableEnded || req.destroyed) {
        receiving.delete(req);
        continue;
      }
      if (now < due) continue;
      receiving.delete(req);
      req.log.debug({ ms }, 'request body too slow; closing'); // debug: an offender must not fill the log
      res.once('finish', () => req.socket.destroy());
      if (res.headersSent) req.socket.destroy();
      else sendError(res, new WeirError('REQUEST_TIMEOUT', `The request body did not arrive within ${ms / 1000} s.`), true);
    }
    if (receiving.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };
  return (req, res, next) => {
    if (!hasBody(req)) return next();
    receiving.set(req, { res, due: Date.now() + ms });
    if (!sweeper) {
      sweeper = setInterval(sweep, Math.min(1000, ms));
      sweeper.unref();
    }
    next();
  };
}

/** Long uploads may take hours, but a connection silent for `ms` is closed. */
export function uploadIdleTimeout(ms: number): RequestHandler {
  return (req, _res, next) => {
    req.socket.setTimeout(ms, () => {
      req.log.info({ idleMs: ms }, 'upload stalled; closing the connection');
      req.socket.destroy();
    });
    next();
  };
}

/** Parses a body or query with a zod schema; failures become one VALIDATION_FAILED naming each field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown ${issue.keys.length > 1 ? 'fields' : 'field'} ${issue.keys.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}`;
    }
    const field = issue.path.length > 0 ? issue.path.join('.') : what;
    return `${field}: ${issue.message}`;
  });
  throw new WeirError('VALIDATION_FAILED', `Invalid ${what}: ${problems.join('; ')}.`);
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new WeirError('NOT_FOUND', `No route for ${req.method} ${redactPath(req.path).slice(0, 200)}.`));
}

/** Errors thrown by body-parser, send and other libraries: an HTTP status and a type. */
type LibraryError = Error & { type?: string; status?: number; statusCode?: number; expose?: boolean; limit?: number; length?: number };

/** Maps an error thrown by a library (not by Weir) to the coded error a client sees, if it is the client's. */
function clientErrorOf(error: LibraryError): WeirError | null {
  switch (error.type) {
    case 'entity.parse.failed':
      return new WeirError('VALIDATION_FAILED', `The body is not valid JSON: ${error.message.slice(0, 200)}.`);
    case 'entity.too.large':
      return new WeirError('BODY_TOO_LARGE', `The body is ${error.length ?? 'more than'} bytes; this route accepts at most ${error.limit} bytes.`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new WeirError('UNSUPPORTED_MEDIA_TYPE', `The body's encoding is not supported: ${error.message.slice(0, 200)}; send UTF-8 JSON.`);
    case 'request.aborted':
    case 'request.size.invalid':
      return new WeirError('VALIDATION_FAILED', 'The request body ended before its declared length.');
  }
  const status = error.status ?? error.statusCode;
  // send answers 400 for malformed paths (NUL bytes, bad encoding) and 403 for traversal attempts.
  if (status === 400 || status === 403) return new WeirError('MEDIA_PATH_INVALID', 'The path is malformed or leaves the media directory.');
  if (status === 404) return new WeirError('NOT_FOUND', 'No such file.');
  if (status === 416) return new WeirError('VALIDATION_FAILED', 'The requested byte range is not satisfiable.');
  return null;
}

function sendError(res: Response, error: WeirError, close = false): void {
  const status = errorCatalog[error.code].status;
  if (status >= 500) res.req.log.error({ method: res.req.method, path: redactPath(res.req.originalUrl).slice(0, 300), status, code: error.code }, 'request');
  if (close) res.setHeader('connection', 'close');
  // Any refusal that says when to come back says it in the header too.
  const retryAfter = (error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (typeof retryAfter === 'number') res.setHeader('retry-after', String(retryAfter));
  res.status(status).json({ error: error.toJSON() });
}

export function errorHandler(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  let coded: WeirError;
  const fromClient = isWeirError(error) ? error : clientErrorOf(error as LibraryError);
  if (fromClient) coded = fromClient;
  else {
    (req.log ?? console).error({ err: error }, 'unhandled error');
    coded = new WeirError('INTERNAL', 'An unexpected server error occurred; the server log has the details.');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body that was refused unread would otherwise be read as the next request on this socket.
  sendError(res, coded, hasBody(req) && !req.complete);
}

/**
 * Answers with JSON, never cached and never revalidated (session starts, heartbeats): the
 * headers and body are written at once. Express's json() looks up the charset, checks freshness
 * and measures the body again, a tenth of a session start.
 */
export function sendNoStoreJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Answers with JSON that clients cache and revalidate: a strong ETag from the body's hash, and
 * 304 with no body when the client already holds it (If-None-Match).
 */
export function sendRevalidated(req: Request, res: Response, body: unknown, cacheControl: string): void {
  sendRevalidatedText(req, res, JSON.stringify(body), cacheControl);
}

/**
 * sendRevalidated for JSON already serialized (answers assembled from cached parts); `version`,
 * when given, names the text as surely as its hash would (and costs less than hashing it).
 */
export function sendRevalidatedText(req: Request, res: Response, text: string | (() => string), cacheControl: string, version?: string): void {
  const body = typeof text === 'string' ? text : null;
  const etag = `"${hash('sha1', version ?? body ?? (text as () => string)(), 'base64url')}"`;
  res.setHeader('etag', etag);
  res.setHeader('cache-control', cacheControl);
  const given = req.headers['if-none-match'];
  if (given !== undefined && (given === '*' || given.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag))) {
    res.status(304).end();
    return;
  }
  res.type('application/json').send(body ?? (text as () => string)());
}
