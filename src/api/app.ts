import express, { type Express, type Request, type Response } from 'express';
import type { Server as TusServer } from '@tus/server';
import { WeirError } from '../errors.js';
import type { Logger } from '../logger.js';
import { playerCors as corsFor } from './cors.js';
import { bodyDeadline, errorHandler, hasBody, jsonBody, notFound, requestLogger, requireAdmin, uploadIdleTimeout } from './http.js';

export type AppParts = {
  log: Logger;
  adminToken: string;
  health: () => { ok: boolean; checks: Record<string, boolean> };
  titles: express.Router;
  streams: express.Router;
  playback: express.Router;
  /** Viewer accounts, sign-in, devices, plans (each route checks its own credentials). */
  viewers: express.Router;
  /** QoE figures (admin). */
  analytics: express.Router;
  /** Home rails, detail, series, search (devices); metadata, series, collections (admin). */
  discovery: express.Router;
  /** Webhook endpoints and their delivery logs (admin). */
  webhooks: express.Router;
  /** Access rules of titles and live streams (admin). */
  access: express.Router;
  /** License and key endpoints under /media (before the media files they sit beside). */
  keys: express.Router;
  media: express.Router;
  sourcePut: (req: Request, res: Response) => Promise<void>;
  /** Uploads straight to the bucket: a signed URL, then the call that fetches the file from there. */
  sourceUploadUrl: (req: Request, res: Response) => Promise<void>;
  sourceUploaded: (req: Request, res: Response) => Promise<void>;
  tus: TusServer;
  /** Proxies whose X-Forwarded-* headers are believed (addresses or CIDR ranges); none by default. */
  trustedProxies: string[];
  bodyTimeoutMs: number;
  uploadIdleTimeoutMs: number;
  /** The OpenAPI document of every route (built when first asked for). */
  openApi: () => unknown;
  /** The built admin UI (static files), or null when it was not built. */
  adminUiDir: string | null;
  /** Told of every answer (metrics): its route pattern, never the path asked for. */
  observeRequest?: (method: string, route: string, status: number, seconds: number) => void;
  /** The Prometheus text, served at /metrics behind the admin token (unset: metrics are served elsewhere or not at all). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
};

/** The pattern of the route that answered (`unmatched` when none did): what metrics label an answer with. */
function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path: unknown } }).route;
  return route ? `${req.baseUrl}${String(route.path)}` : 'unmatched';
}

const forwardedHeaders = new Set(['forwarded', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'x-forwarded-port']);

/** Removes forwarded headers from both views of a request (tus reads the raw list too). */
function stripForwardedHeaders(req: Request): void {
  for (const header of forwardedHeaders) delete req.headers[header];
  const raw: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (!forwardedHeaders.has(req.rawHeaders[i]!.toLowerCase())) raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  req.rawHeaders = raw;
}

/**
 * Serves the built admin UI. Asset names carry their content hash (cached for a year); the page
 * itself is revalidated. A strict content security policy: nothing but this origin, and blob:
 * media for the preview player's MediaSource.
 */
function adminUi(dir: string | null): express.RequestHandler {
  if (!dir) {
    return (_req, _res, next) => next(new WeirError('NOT_FOUND', 'The admin UI is not built in this installation; run "npm run build".'));
  }
  const files = express.static(dir, {
    index: 'index.html',
    redirect: true,
    setHeaders: (res, path) => res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache'),
  });
  return (req, res, next) => {
    res.setHeader('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; worker-src 'self' blob:; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    files(req, res, next);
  };
}

type StackLayer = { route?: { path: string | string[]; methods: Record<string, boolean> }; handle?: { stack?: StackLayer[] } };

/** Every route the app registers, as Express patterns (`all` for a route that takes any method): what the OpenAPI test compares the document with. */
export function registeredRoutes(app: Express): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const walk = (stack: StackLayer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        // app.all registers every method Node knows: report it as one.
        const methods = Object.keys(layer.route.methods);
        for (const path of ([] as string[]).concat(layer.route.path)) {
          for (const method of methods.length > 20 || methods.includes('_all') ? ['all'] : methods) out.push({ method, path });
        }
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: StackLayer[] } }).router.stack);
  return out;
}

/** The HTTP surface: public playback and media routes, admin routes behind the bearer token. */
export function createApp(parts: AppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  // Hashing every response body for an ETag costs the hot live path; files keep theirs (from stat).
  app.set('etag', false);
  // Forwarded headers say who the client is only when a proxy we trust set them.
  app.set('trust proxy', parts.trustedProxies.length > 0 ? parts.trustedProxies : false);
  const trusted = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  app.use(requestLogger(parts.log));
  const observe = parts.observeRequest;
  if (observe) {
    app.use((req, res, next) => {
      const started = performance.now();
      res.once('finish', () => observe(req.method, routeOf(req), res.statusCode, (performance.now() - started) / 1000));
      next();
    });
  }
  // Uploads may run for hours (idle timeout only); every other body must arrive promptly.
  const isUpload = (path: string) => /^\/v1\/uploads(\/|$)/i.test(path) || /^\/v1\/titles\/[^/]+\/source\/?$/i.test(path);
  const deadline = bodyDeadline(parts.bodyTimeoutMs);
  const idle = uploadIdleTimeout(parts.uploadIdleTimeoutMs);
  // Most requests (every media GET) carry no body and pass with one header check.
  app.use((req, res, next) => (!hasBody(req) ? next() : isUpload(req.path) ? idle(req, res, next) : deadline(req, res, next)));

  // Players on other origins fetch sessions, manifests and segments; preflight included.
  const playerCors = corsFor({ methods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'], maxAgeSeconds: 600, exposedHeaders: ['content-length', 'content-range', 'retry-after'] });

  // The API's document, public like any API reference; built once, on first request.
  let openApi: string | null = null;
  app.get('/openapi.json', (_req, res) => {
    openApi ??= JSON.stringify(parts.openApi());
    res.setHeader('cache-control', 'no-cache');
    res.type('application/json').send(openApi);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const { ok, checks } = parts.health();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks });
  });

  // The clock LL-DASH players synchronise with (the MPD's UTCTiming).
  app.use('/time', playerCors); // preflight (OPTIONS) included
  app.get('/time', (_req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.type('text/plain').send(new Date().toISOString());
  });
  // One prefix test instead of a mount per path: every session start passes here.
  const playerPaths = /^\/(?:v1\/(?:playback-sessions|auth|me|plans|viewers|home|catalog)|images)(?:[/?]|$)/i;
  app.use((req, res, next) => (playerPaths.test(req.url) ? playerCors(req, res, next) : next()));
  app.use(parts.playback);
  app.use(parts.viewers);
  app.use('/media', playerCors);
  app.use(parts.keys);
  app.use(parts.media);

  const admin = requireAdmin(parts.adminToken);
  const metrics = parts.metrics;
  if (metrics) {
    app.get('/metrics', admin, async (_req, res) => {
      const { contentType, body } = await metrics();
      res.setHeader('cache-control', 'no-store');
      res.type(contentType).send(body);
    });
  }
  // The admin UI: static files only (it signs in with the admin token and calls the API like any client).
  app.use('/admin', adminUi(parts.adminUiDir));
  // tus authenticates inside its own hooks (it answers its own OPTIONS and HEAD).
  app.all(['/v1/uploads', '/v1/uploads/*uploadId'], (req, res) => {
    // tus builds Location from forwarded headers: only a trusted proxy's may reach it.
    if (!trusted(req.socket.remoteAddress ?? '', 0)) stripForwardedHeaders(req);
    void parts.tus.handle(req, res);
  });
  app.use('/v1/titles', admin);
  app.use('/v1/live-streams', admin);
  app.use('/v1/webhooks', admin);
  app.use(parts.webhooks);
  app.use(parts.access);
  app.use(parts.discovery);
  app.use('/v1/analytics', admin);
  app.use(parts.analytics);
  app.put('/v1/titles/:id/source', parts.sourcePut);
  app.post('/v1/titles/:id/source/upload-url', jsonBody('16kb'), parts.sourceUploadUrl);
  // Up to 10 000 parts, each with its ETag.
  app.post('/v1/titles/:id/source/uploaded', jsonBody('1mb'), parts.sourceUploaded);
  app.use(parts.titles);
  app.use(parts.streams);

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
