import { WeirError } from '../errors.js';
import { hs256Tokens, type Hs256Tokens } from '../hs256.js';

export type PlaybackClaims = { contentId: string; sessionId: string };

const issuer = 'weir';
const audience = 'weir-playback';

/**
 * Signed playback tokens scoped to one piece of content and one playback session. Tokens ride
 * in the media URL's path, so every relative URI in a manifest carries them without rewriting
 * manifests. A token has no clock of its own: it is good while its session's lease lives (the
 * lease table says, in memory), so a viewer is never cut off mid-playback by a token's expiry.
 * Verified tokens are cached: the media read path then costs a map lookup.
 */
export class PlaybackTokens {
  private readonly tokens: Hs256Tokens;
  private readonly verified = new Map<string, PlaybackClaims>();
  private static readonly cacheLimit = 10_000;

  constructor(secret: string) {
    this.tokens = hs256Tokens(secret, { issuer, audience });
  }

  /** A JWT (RFC 7519, HS256) naming the content and the session. */
  issue(claims: PlaybackClaims, now = Date.now()): string {
    return this.tokens.sign({ sid: claims.sessionId, sub: claims.contentId, iat: Math.floor(now / 1000) });
  }

  /** Checks a token for a content id; throws the coded error a client should see. */
  verify(token: string, contentId: string): PlaybackClaims {
    let claims = this.verified.get(token);
    if (!claims) {
      claims = this.verifySignature(token);
      if (this.verified.size >= PlaybackTokens.cacheLimit) this.verified.clear();
      this.verified.set(token, claims);
    }
    if (claims.contentId !== contentId) {
      throw new WeirError('PLAYBACK_TOKEN_WRONG_CONTENT', `The playback token is for other content; expected a token for ${contentId}.`);
    }
    return claims;
  }

  private verifySignature(token: string): PlaybackClaims {
    let payload: Record<string, unknown>;
    try {
      payload = this.tokens.verify(token);
    } catch {
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token is malformed or its signature does not match.');
    }
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token lacks its content or session.');
    }
    return { contentId: payload.sub, sessionId: payload.sid };
  }
}
