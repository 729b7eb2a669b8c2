import { createHmac, timingSafeEqual } from 'node:crypto';
import { WeirError } from '../errors.js';
import { hs256Tokens, type Hs256Tokens } from '../hs256.js';

/** What a token names: its session, and (tokens of the earlier form) its content; otherwise the session's lease says which content. */
export type PlaybackClaims = { sessionId: string; contentId: string | null };

/** Session ids are UUIDs; nothing else is ever looked up. */
const sessionIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** 128 bits of HMAC-SHA256, base64url. */
const macLength = 22;

/**
 * Signed playback tokens bound to one playback session. Tokens ride in the media URL's path, so
 * every relative URI in a manifest carries them without rewriting manifests, five times in a
 * session answer: they are short, `<session id>.<MAC>` (an HMAC-SHA256 of the session id). The
 * session's lease names its content, and a token is good only while that lease lives and only
 * for that content (the lease table says, in memory): a viewer is never cut off mid-playback by
 * a token's expiry. Verified tokens are cached: the media read path then costs a map lookup.
 *
 * Tokens issued before this form (HS256 JWTs naming the session and the content) are still
 * accepted: their sessions survive an upgrade, and so must the URLs their players hold.
 */
export class PlaybackTokens {
  private readonly key: Buffer;
  private readonly legacy: Hs256Tokens;
  private readonly verified = new Map<string, PlaybackClaims>();
  private static readonly cacheLimit = 10_000;

  constructor(secret: string) {
    this.key = Buffer.from(secret);
    this.legacy = hs256Tokens(secret, { issuer: 'weir', audience: 'weir-playback' });
  }

  private mac(sessionId: string): string {
    return createHmac('sha256', this.key).update(`weir-playback\n${sessionId}`).digest('base64url').slice(0, macLength);
  }

  /** The token of a playback session. */
  issue(sessionId: string): string {
    return `${sessionId}.${this.mac(sessionId)}`;
  }

  /** Checks a token's signature (not its session: the caller asks the lease table); throws the coded error a client should see. */
  verify(token: string): PlaybackClaims {
    let claims = this.verified.get(token);
    if (!claims) {
      claims = this.check(token);
      if (this.verified.size >= PlaybackTokens.cacheLimit) this.verified.clear();
      this.verified.set(token, claims);
    }
    return claims;
  }

  private check(token: string): PlaybackClaims {
    const dot = token.indexOf('.');
    if (dot > 0 && token.indexOf('.', dot + 1) > 0) return this.checkLegacy(token);
    const sessionId = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1));
    if (dot < 0 || !sessionIdPattern.test(sessionId) || given.length !== macLength || !timingSafeEqual(given, Buffer.from(this.mac(sessionId)))) {
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token is malformed or its signature does not match; media URLs carry the token the session answer gave.');
    }
    return { sessionId, contentId: null };
  }

  private checkLegacy(token: string): PlaybackClaims {
    let payload: Record<string, unknown>;
    try {
      payload = this.legacy.verify(token);
    } catch {
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token is malformed or its signature does not match.');
    }
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token lacks its content or session.');
    }
    return { sessionId: payload.sid, contentId: payload.sub };
  }
}
