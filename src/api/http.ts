import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { errorCatalog, isWeirError, WeirError } from '../errors.js';
import type { Logger } from '../logger.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** A pino child logger bound to this request's id. */
    log: Logger;
    id: string;
  }
}

/** Media URLs carry the playback token in their path: never write it to a log. */
export function redactPath(url: string): string {
  return url.replace(/^(\/media\/[^/]+\/)[^/?]+/, '$1[token]');
}

export function requestLogger(log: Logger) {
  const debug = log.isLevelEnabled('debug');
  return (req: Request, res: Response, next: NextFunction): void => {
    req.id = (req.header('x-request-id') ?? '').slice(0, 64) || randomUUID();
    // The child logger is made on first use: most media requests never log.
    let child: Logger | undefined;
    Object.defineProperty(req, 'log', { configurable: true, get: () => (child ??= log.child({ reqId: req.id })) });
    res.setHeader('x-request-id', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (!debug && res.statusCode < 500) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const entry = { method: req.method, path: redactPath(req.originalUrl), status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (res.statusCode >= 500) req.log.error(entry, 'request');
      else req.log.debug(entry, 'request');
    });
    next();
  };
}

export function requireAdmin(adminToken: string) {
  const expected = Buffer.from(adminToken);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(match?.[1]?.trim() ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      next(new WeirError('ADMIN_AUTH_REQUIRED', header ? 'The admin bearer token is not valid.' : 'This route needs "Authorization: Bearer <admin token>".'));
      return;
    }
    next();
  };
}

/** Parses a body or query with a zod schema; failures become one VALIDATION_FAILED naming each field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : what;
    return `${field}: ${issue.message}`;
  });
  throw new WeirError('VALIDATION_FAILED', `Invalid ${what}: ${problems.join('; ')}.`);
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new WeirError('NOT_FOUND', `No route for ${req.method} ${redactPath(req.path)}.`));
}

type BodyParserError = Error & { type?: string; status?: number; expose?: boolean };

export function errorHandler(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  let coded: WeirError;
  const parserError = error as BodyParserError;
  if (isWeirError(error)) coded = error;
  else if (parserError?.type === 'entity.parse.failed') coded = new WeirError('VALIDATION_FAILED', `The body is not valid JSON: ${parserError.message}.`);
  else if (parserError?.type === 'entity.too.large') coded = new WeirError('VALIDATION_FAILED', 'The JSON body is larger than 1 MB.');
  else {
    (req.log ?? console).error({ err: error }, 'unhandled error');
    coded = new WeirError('INTERNAL', 'An unexpected error occurred; the server log has the details.');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(errorCatalog[coded.code].status).json({ error: coded.toJSON() });
}
