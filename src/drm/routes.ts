import express, { Router } from 'express';
import { WeirError } from '../errors.js';
import { aes128KeyName, clearKeyLicenseName } from '../layout.js';

/** The DRM systems whose licenses come from an upstream license server, through Weir's checks. */
export const proxiedSystems = ['widevine', 'playready', 'fairplay'] as const;
export type ProxiedSystem = (typeof proxiedSystems)[number];

/** What the key routes need: the session check and a content item's keys. */
export type KeyRoutesDeps = {
  /** Checks the token and that its session still runs (stopped or expired sessions get no keys). */
  authorize: (token: string, contentId: string) => { id: string };
  isPlayable: (contentId: string) => boolean;
  /** All keys of a content item (decrypted), for these endpoints only. */
  contentKeys: (contentId: string) => { kid: Uint8Array; key: Uint8Array; protection: string }[];
  /** Upstream license servers by system ('' or absent: not offered). */
  licenseServers: Partial<Record<ProxiedSystem, string>>;
  /** How long an upstream license request may take. */
  upstreamTimeoutMs: number;
};

const maxLicenseResponseBytes = 1024 * 1024;

/** Forwards a license request upstream; the answer (status, type, body) goes back to the player as it is. */
async function forwardLicense(url: string, body: Buffer, contentType: string, context: { contentId: string; sessionId: string; kids: string[] }, timeoutMs: number): Promise<{ status: number; type: string; body: Buffer }> {
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': contentType,
        // What Weir vouches for: this session may have these keys of this content.
        'x-weir-content-id': context.contentId,
        'x-weir-session-id': context.sessionId,
        'x-weir-key-ids': context.kids.join(','),
      },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new WeirError('LICENSE_UPSTREAM_FAILED', `The license server could not be reached: ${(error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (error as Error).message}.`);
  }
  // Read as it arrives and stop past the bound: an upstream that sends without end costs 1 MiB, no more.
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of response.body ?? []) {
    received += chunk.byteLength;
    if (received > maxLicenseResponseBytes) {
      // Leaving the loop cancels the body.
      throw new WeirError('LICENSE_UPSTREAM_FAILED', `The license server answered with more than ${maxLicenseResponseBytes} bytes; at most that many are passed on.`);
    }
    chunks.push(Buffer.from(chunk));
  }
  const answer = Buffer.concat(chunks);
  if (response.status >= 500) throw new WeirError('LICENSE_UPSTREAM_FAILED', `The license server answered ${response.status}.`);
  return { status: response.status, type: response.headers.get('content-type') ?? 'application/octet-stream', body: answer };
}

/**
 * The license and key endpoints, beside the manifests they serve (`/media/:id/:token/…`), so
 * players find them relative to the playlist and every request carries the session's token.
 * Keys never sit in a shared cache.
 */
export function keyRoutes(deps: KeyRoutesDeps): Router {
  const router = Router();
  // HLS AES-128 (RFC 8216 §5.2): the 16 key bytes of the title's AES-128 key.
  router.get('/media/:contentId/:token/' + aes128KeyName, async (req, res) => {
    const contentId = String(req.params.contentId);
    deps.authorize(String(req.params.token), contentId);
    if (!deps.isPlayable(contentId)) throw new WeirError('CONTENT_NOT_READY', `Content ${contentId} is not ready for playback.`);
    const key = deps.contentKeys(contentId).find((k) => k.protection === 'aes-128');
    if (!key) throw new WeirError('NOT_FOUND', `Content ${contentId} has no AES-128 key.`);
    res.setHeader('cache-control', 'private, no-store');
    res.type('application/octet-stream').send(Buffer.from(key.key));
  });
  // W3C EME ClearKey license (https://www.w3.org/TR/encrypted-media/#clear-key-request-format):
  // { kids: [base64url] } → { keys: [{ kty: "oct", kid, k }] }, only this content's keys.
  router.post('/media/:contentId/:token/' + clearKeyLicenseName, express.json({ limit: '16kb', type: () => true }), async (req, res) => {
    const contentId = String(req.params.contentId);
    deps.authorize(String(req.params.token), contentId);
    const body = req.body as { kids?: unknown };
    if (!Array.isArray(body?.kids) || !body.kids.every((k) => typeof k === 'string')) {
      throw new WeirError('VALIDATION_FAILED', 'A ClearKey license request is JSON { "kids": [base64url KID, ...] }.');
    }
    const wanted = new Set((body.kids as string[]).map((k) => Buffer.from(k, 'base64url').toString('hex')));
    const keys = deps
      .contentKeys(contentId)
      .filter((k) => (k.protection === 'cenc' || k.protection === 'cbcs') && wanted.has(Buffer.from(k.kid).toString('hex')))
      .map((k) => ({ kty: 'oct', kid: Buffer.from(k.kid).toString('base64url'), k: Buffer.from(k.key).toString('base64url') }));
    if (keys.length === 0) throw new WeirError('NOT_FOUND', `None of the requested keys belong to content ${contentId}.`);
    res.setHeader('cache-control', 'private, no-store');
    res.json({ keys, type: 'temporary' });
  });
  // Widevine, PlayReady and FairPlay: the license proxy. Weir checks the session (valid, lease
  // live, content protected with keys) and passes the player's request body upstream untouched.
  router.post('/media/:contentId/:token/license/:system', express.raw({ limit: '64kb', type: () => true }), async (req, res) => {
    const contentId = String(req.params.contentId);
    const lease = deps.authorize(String(req.params.token), contentId);
    const system = String(req.params.system) as ProxiedSystem;
    const upstream = proxiedSystems.includes(system) ? deps.licenseServers[system] : undefined;
    if (!upstream) throw new WeirError('LICENSE_SYSTEM_UNSUPPORTED', `No license server is configured for ${JSON.stringify(String(req.params.system))}; this server offers ${proxiedSystems.filter((s) => deps.licenseServers[s]).join(', ') || 'ClearKey only'}.`);
    const kids = deps
      .contentKeys(contentId)
      .filter((k) => k.protection === 'cenc' || k.protection === 'cbcs')
      .map((k) => Buffer.from(k.kid).toString('hex'));
    if (kids.length === 0) throw new WeirError('LICENSE_SYSTEM_UNSUPPORTED', `Content ${contentId} is not protected with DRM keys.`);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (body.length === 0) throw new WeirError('VALIDATION_FAILED', 'A license request needs the body the player\'s CDM produced; it arrived empty.');
    const answer = await forwardLicense(upstream, body, req.header('content-type') ?? 'application/octet-stream', { contentId, sessionId: lease.id, kids }, deps.upstreamTimeoutMs);
    res.setHeader('cache-control', 'private, no-store');
    res.status(answer.status).type(answer.type).send(answer.body);
  });
  return router;
}
