import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { isUniqueViolation } from '../catalog/sql.js';
import type { Clock } from '../clock.js';
import { WeirError } from '../errors.js';
import { hs256Tokens, type Hs256Tokens } from '../hs256.js';
import type { LoginThrottle } from './login-throttle.js';
import { defaultScryptCost, hashPassword, needsRehash, verifyPassword, type ScryptCost } from './passwords.js';
import { deviceFamilies, type DeviceFamily, type Plan } from './plans.js';
import { foldEmail, type Device, type Viewer, type ViewerStore } from './store.js';

export type DeviceInfo = { id: string; family: DeviceFamily; model?: string | undefined; appVersion?: string | undefined };

/** Who a viewer access token says is calling. */
export type ViewerIdentity = { viewerId: string; deviceId: string; family: DeviceFamily };

export type SignedIn = {
  viewer: Viewer;
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
};

/** What a viewer's plan lets them watch right now. */
export type Entitlement = { viewer: Viewer; plan: Plan | null; subscribed: boolean };

export type ViewerAccountsOptions = {
  store: ViewerStore;
  throttle: LoginThrottle;
  clock: Clock;
  /** Signs access tokens (HS256); distinct from the playback token secret. */
  secret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  scryptCost?: ScryptCost;
};

const issuer = 'weir';
const audience = 'weir-viewer';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Viewer accounts and signing in: short-lived access tokens (JWT) and rotating refresh tokens
 * (stored hashed; using one twice revokes its whole family, since only a thief would).
 */
export class ViewerAccounts {
  private readonly tokens: Hs256Tokens;
  /** Access tokens already verified, until they expire: a device sends the same one for minutes. */
  private readonly verified = new Map<string, ViewerIdentity & { expiresAt: number }>();
  private readonly cost: ScryptCost;
  /** A hash to check against when the address is unknown, so timing does not tell which addresses exist. */
  private decoy: Promise<string> | null = null;

  constructor(private readonly options: ViewerAccountsOptions) {
    this.tokens = hs256Tokens(options.secret, { issuer, audience });
    this.cost = options.scryptCost ?? defaultScryptCost;
  }

  get store(): ViewerStore {
    return this.options.store;
  }

  async create(input: { email: string; password: string; displayName?: string | undefined; maxRating?: string | null | undefined; planId?: string | null | undefined; subscriptionStartsAt?: number | null | undefined; subscriptionEndsAt?: number | null | undefined }): Promise<Viewer> {
    const email = foldEmail(input.email);
    if (this.store.emailTaken(email)) throw new WeirError('EMAIL_TAKEN', `A viewer with the address ${email} already exists.`);
    if (input.planId && !this.store.plan(input.planId)) throw new WeirError('PLAN_NOT_FOUND', `No plan with id ${JSON.stringify(input.planId)}.`);
    const passwordHash = await hashPassword(input.password, this.cost);
    const now = this.options.clock.now();
    const viewer: Viewer = {
      id: randomUUID(),
      email,
      displayName: input.displayName ?? '',
      maxRating: input.maxRating ?? null,
      planId: input.planId ?? null,
      subscriptionStartsAt: input.subscriptionStartsAt ?? (input.planId ? now : null),
      subscriptionEndsAt: input.subscriptionEndsAt ?? null,
      createdAt: now,
    };
    try {
      this.store.createViewer({ ...viewer, passwordHash });
    } catch (error) {
      // Two sign-ups with one address at once: the unique index decides.
      if (isUniqueViolation(error)) throw new WeirError('EMAIL_TAKEN', `A viewer with the address ${email} already exists.`);
      throw error;
    }
    return viewer;
  }

  async login(input: { email: string; password: string; device: DeviceInfo }, address: string): Promise<SignedIn> {
    const email = foldEmail(input.email);
    const wait = this.options.throttle.retryAfterSeconds(email, address);
    if (wait > 0) throw new WeirError('LOGIN_THROTTLED', `Too many failed sign-ins; try again in ${wait} s.`, { retryAfterSeconds: wait });
    const found = this.store.viewerForSignIn(email);
    const ok = found ? await verifyPassword(input.password, found.passwordHash) : (await verifyPassword(input.password, await this.decoyHash()), false);
    if (!found || !ok) {
      this.options.throttle.failed(email, address);
      throw new WeirError('LOGIN_FAILED', 'The email address or password is not right.');
    }
    this.options.throttle.succeeded(email);
    const now = this.options.clock.now();
    if (needsRehash(found.passwordHash, this.cost)) this.store.setPasswordHash(found.id, await hashPassword(input.password, this.cost), now);
    const plan = found.planId ? this.store.plan(found.planId) : null;
    const device = { id: input.device.id, family: input.device.family, model: input.device.model ?? null, appVersion: input.device.appVersion ?? null };
    const registered = this.store.registerDevice(found.id, device, plan?.maxDevices ?? Number.MAX_SAFE_INTEGER, now);
    if (!registered.registered) {
      throw new WeirError('DEVICE_LIMIT_REACHED', `Your plan allows ${plan!.maxDevices} devices and all are registered; remove one to sign in on this device.`, {
        limit: plan!.maxDevices,
        devices: registered.devices.map(publicDevice),
      });
    }
    const { passwordHash, ...viewer } = found;
    void passwordHash; // never leaves this method
    return this.issue(viewer, input.device.id, input.device.family, randomUUID(), now);
  }

  /** Trades a refresh token for new tokens; the old one is spent. Reusing a spent one revokes its family. */
  async refresh(token: string): Promise<SignedIn> {
    const now = this.options.clock.now();
    const record = this.findRefresh(token);
    if (record.rotatedAt !== null) {
      this.store.revokeFamily(record.familyId, now);
      throw new WeirError('REFRESH_TOKEN_INVALID', 'This refresh token was already used; every session of this sign-in is now revoked. Sign in again.');
    }
    if (record.revokedAt !== null || record.expiresAt <= now) throw new WeirError('REFRESH_TOKEN_INVALID', 'The refresh token has expired or was revoked; sign in again.');
    const viewer = this.store.viewer(record.viewerId);
    const device = viewer ? this.store.device(viewer.id, record.deviceId) : null;
    if (!viewer || !device) throw new WeirError('REFRESH_TOKEN_INVALID', 'The viewer or device of this refresh token no longer exists; sign in again.');
    const next = this.newRefresh(viewer.id, device.id, record.familyId, now);
    if (!this.store.rotateRefresh(record.id, next.record, now)) {
      // Another request spent it a moment ago: the same as reuse.
      this.store.revokeFamily(record.familyId, now);
      throw new WeirError('REFRESH_TOKEN_INVALID', 'This refresh token was already used; every session of this sign-in is now revoked. Sign in again.');
    }
    return this.signed(viewer, device.id, device.family, next, now);
  }

  /** Ends a sign-in: its refresh token family is revoked (access tokens lapse within their short life). */
  logout(token: string): void {
    const record = this.findRefresh(token);
    this.store.revokeFamily(record.familyId, this.options.clock.now());
  }

  verifyAccess(token: string): ViewerIdentity {
    const now = this.options.clock.now();
    const known = this.verified.get(token);
    if (known && known.expiresAt > now) return { viewerId: known.viewerId, deviceId: known.deviceId, family: known.family };
    try {
      const payload = this.tokens.verify(token);
      const family = payload.fam as DeviceFamily;
      if (typeof payload.sub !== 'string' || typeof payload.did !== 'string' || !deviceFamilies.includes(family) || typeof payload.exp !== 'number') throw new Error('claims');
      if (payload.exp * 1000 <= now) throw new Error('expired');
      const identity = { viewerId: payload.sub, deviceId: payload.did, family };
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, { ...identity, expiresAt: payload.exp * 1000 });
      return identity;
    } catch {
      throw new WeirError('VIEWER_TOKEN_INVALID', 'The viewer access token is malformed, forged or expired; refresh it or sign in again.');
    }
  }

  /** The viewer's plan and whether its subscription covers this moment. */
  entitlement(viewerId: string, now: number): Entitlement | null {
    const viewer = this.store.viewer(viewerId);
    if (!viewer) return null;
    const plan = viewer.planId ? this.store.plan(viewer.planId) : null;
    const subscribed = plan !== null && (viewer.subscriptionStartsAt ?? 0) <= now && (viewer.subscriptionEndsAt === null || now < viewer.subscriptionEndsAt);
    return { viewer, plan, subscribed };
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= hashPassword(randomBytes(16).toString('hex'), this.cost);
    return this.decoy;
  }

  private findRefresh(token: string) {
    const [id, secret] = token.split('.');
    const record = id && secret ? this.store.refresh(id) : null;
    if (!record) throw new WeirError('REFRESH_TOKEN_INVALID', 'The refresh token is not one Weir issued; sign in again.');
    const given = Buffer.from(sha256(secret!), 'hex');
    if (!timingSafeEqual(given, Buffer.from(record.tokenHash, 'hex'))) throw new WeirError('REFRESH_TOKEN_INVALID', 'The refresh token is not one Weir issued; sign in again.');
    return record;
  }

  private newRefresh(viewerId: string, deviceId: string, familyId: string, now: number) {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = now + this.options.refreshTtlSeconds * 1000;
    return { token: `${id}.${secret}`, expiresAt, record: { id, familyId, viewerId, deviceId, tokenHash: sha256(secret), expiresAt } };
  }

  private async issue(viewer: Viewer, deviceId: string, family: DeviceFamily, familyId: string, now: number): Promise<SignedIn> {
    const refresh = this.newRefresh(viewer.id, deviceId, familyId, now);
    this.store.insertRefresh(refresh.record, now);
    return this.signed(viewer, deviceId, family, refresh, now);
  }

  private async signed(viewer: Viewer, deviceId: string, family: DeviceFamily, refresh: { token: string; expiresAt: number }, now: number): Promise<SignedIn> {
    const accessExpiresAt = now + this.options.accessTtlSeconds * 1000;
    const accessToken = this.tokens.sign({ did: deviceId, fam: family, sub: viewer.id, iat: Math.floor(now / 1000), exp: Math.floor(accessExpiresAt / 1000) });
    return { viewer, accessToken, accessExpiresAt, refreshToken: refresh.token, refreshExpiresAt: refresh.expiresAt };
  }
}

/** A device as a viewer's app sees it. */
export function publicDevice(device: Device) {
  return { id: device.id, family: device.family, model: device.model, appVersion: device.appVersion, registeredAt: new Date(device.registeredAt).toISOString(), lastSeenAt: new Date(device.lastSeenAt).toISOString() };
}
