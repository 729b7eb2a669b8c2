import type { NextFunction, Request, Response } from 'express';

export type CorsOptions = { methods: readonly string[]; maxAgeSeconds: number; exposedHeaders: readonly string[] };

/**
 * CORS for players on any origin: the request's origin is reflected (no credentials are ever
 * allowed), and any OPTIONS request is answered as a preflight. Written here because it runs on
 * every session start and media request, where the `cors` package cost 7 % of the time
 * (a closure chain and header list per request); these are a few constant headers.
 */
export function playerCors(options: CorsOptions) {
  const methods = options.methods.join(',');
  const exposed = options.exposedHeaders.join(',');
  const maxAge = String(options.maxAgeSeconds);
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    if (origin !== undefined) res.setHeader('access-control-allow-origin', origin);
    res.vary('Origin');
    if (req.method !== 'OPTIONS') {
      res.setHeader('access-control-expose-headers', exposed);
      next();
      return;
    }
    res.setHeader('access-control-allow-methods', methods);
    // Whatever the player asks to send (CMCD-* among them); an oversized list is not echoed.
    const asked = req.headers['access-control-request-headers'];
    if (asked !== undefined && asked.length <= 2048) {
      res.setHeader('access-control-allow-headers', asked);
      res.vary('Access-Control-Request-Headers');
    }
    res.setHeader('access-control-max-age', maxAge);
    res.statusCode = 204;
    res.setHeader('content-length', '0');
    res.end();
  };
}
