import { createHmac } from 'node:crypto';
import { jwtVerify, errors as joseErrors } from 'jose';
import { WeirError } from '../errors.js';
import { hs256Key } from '../hs256-key.js';

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
  private readonly key: ReturnType<typeof hs256Key>;
  private readonly secret: Buffer;
  private readonly verified = new Map<string, PlaybackClaims>();
  private static readonly cacheLimit = 10_000;

  constructor(secret: string) {
    this.key = hs256Key(secret);
    this.secret = Buffer.from(secret);
  }

  /**
   * Signs a JWT (RFC 7519, HS256) with Node's HMAC, in microseconds: it is on every session start.
   * Verification, of input from anyone, stays with jose.
   */
  async issue(claims: PlaybackClaims): Promise<string> {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${part({ alg: 'HS256' })}.${part({ sid: claims.sessionId, iss: issuer, aud: audience, sub: claims.contentId, iat: Math.floor(Date.now() / 1000) })}`;
    return `${signed}.${createHmac('sha256', this.secret).update(signed).digest('base64url')}`;
  }

  /** Checks a token for a content id; throws the coded error a client should see. */
  async verify(token: string, contentId: string, now = Date.now()): Promise<PlaybackClaims> {
    let claims = this.verified.get(token);
    if (!claims) {
      claims = await this.verifySignature(token, now);
      if (this.verified.size >= PlaybackTokens.cacheLimit) this.verified.clear();
      this.verified.set(token, claims);
    }
    if (claims.contentId !== contentId) {
      throw new WeirError('PLAYBACK_TOKEN_WRONG_CONTENT', `The playback token is for other content; expected a token for ${contentId}.`);
    }
    return claims;
  }

  private async verifySignature(token: string, now: number): Promise<PlaybackClaims> {
    try {
      const { payload } = await jwtVerify(token, await this.key(), { issuer, audience, algorithms: ['HS256'], currentDate: new Date(now) });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token lacks its content or session.');
      }
      return { contentId: payload.sub, sessionId: payload.sid };
    } catch (error) {
      if (error instanceof WeirError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token has expired; start a new playback session.');
      }
      throw new WeirError('PLAYBACK_TOKEN_INVALID', 'The playback token is malformed or its signature does not match.');
    }
  }
}
