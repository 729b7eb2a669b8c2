import express, { Router } from 'express';
import { WeirError } from '../errors.js';
import { aes128KeyName, clearKeyLicenseName } from '../layout.js';

/** What the key routes need: the session token check and a content item's keys. */
export type KeyRoutesDeps = {
  tokens: { verify(token: string, contentId: string): Promise<unknown> };
  isPlayable: (contentId: string) => boolean;
  /** All keys of a content item (decrypted), for these endpoints only. */
  contentKeys: (contentId: string) => { kid: Uint8Array; key: Uint8Array; protection: string }[];
};

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
    await deps.tokens.verify(String(req.params.token), contentId);
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
    await deps.tokens.verify(String(req.params.token), contentId);
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
  return router;
}
