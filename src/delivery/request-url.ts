import type { Request } from 'express';

/** Scheme and host this request came to (Express honours X-Forwarded-* only from trusted proxies). */
export function requestOrigin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/** The absolute URL of this request without its query, against which a manifest's relative URLs resolve. */
export function requestUrl(req: Request): string {
  return `${requestOrigin(req)}${req.originalUrl.split('?')[0]}`;
}
