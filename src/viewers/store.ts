import type { Db } from '../catalog/database.js';
import type { DeviceFamily, Plan } from './plans.js';

export type Viewer = {
  id: string;
  /** Case-folded: one account per address, however it is typed. */
  email: string;
  displayName: string;
  /** The highest content rating this viewer may watch; null for no limit. */
  maxRating: string | null;
  planId: string | null;
  subscriptionStartsAt: number | null;
  subscriptionEndsAt: number | null;
  createdAt: number;
};

export type Device = {
  id: string;
  family: DeviceFamily;
  model: string | null;
  appVersion: string | null;
  registeredAt: number;
  lastSeenAt: number;
};

export type RefreshRecord = {
  id: string;
  familyId: string;
  viewerId: string;
  deviceId: string;
  tokenHash: string;
  expiresAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
};

export type Rental = { id: string; viewerId: string; contentId: string; startsAt: number; endsAt: number };

type ViewerRow = {
  id: string;
  email: string;
  display_name: string;
  max_rating: string | null;
  plan_id: string | null;
  subscription_starts_at: number | null;
  subscription_ends_at: number | null;
  created_at: number;
};

const viewerOf = (row: ViewerRow): Viewer => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  maxRating: row.max_rating,
  planId: row.plan_id,
  subscriptionStartsAt: row.subscription_starts_at,
  subscriptionEndsAt: row.subscription_ends_at,
  createdAt: row.created_at,
});

type PlanRow = { id: string; name: string; max_streams: number; max_devices: number; max_height: number; packages: string };
const planOf = (row: PlanRow): Plan => ({ id: row.id, name: row.name, maxStreams: row.max_streams, maxDevices: row.max_devices, maxHeight: row.max_height, packages: JSON.parse(row.packages) as string[] });

type DeviceRow = { device_id: string; family: string; model: string | null; app_version: string | null; registered_at: number; last_seen_at: number };
const deviceOf = (row: DeviceRow): Device => ({ id: row.device_id, family: row.family as DeviceFamily, model: row.model, appVersion: row.app_version, registeredAt: row.registered_at, lastSeenAt: row.last_seen_at });

/** Case folding for email addresses: the whole address, as people type it in any case. */
export const foldEmail = (email: string): string => email.trim().normalize('NFKC').toLowerCase();

/**
 * Viewers, their devices and refresh tokens, plans and rentals: the tables of the user and
 * entitlement service. Nothing else reads them; the playback service asks through this store.
 */
export class ViewerStore {
  private readonly s;
  /**
   * Viewers, plans and devices as last read, for the session-start path (read on every start,
   * changed rarely). Every write below goes through this store and drops what it changes; the
   * cache is bounded by clearing it when full.
   */
  private readonly cached = { viewers: new Map<string, Viewer | null>(), plans: new Map<string, Plan | null>(), devices: new Map<string, Device | null>(), rentals: new Map<string, Rental[]>() };
  private static readonly cacheLimit = 100_000;

  constructor(private readonly db: Db) {
    this.s = {
      insertViewer: db.prepare(
        `INSERT INTO viewers (id, email, password_hash, display_name, max_rating, plan_id, subscription_starts_at, subscription_ends_at, created_at, updated_at)
         VALUES (@id, @email, @passwordHash, @displayName, @maxRating, @planId, @subscriptionStartsAt, @subscriptionEndsAt, @createdAt, @createdAt)`,
      ),
      // Never the password hash, except for signing in.
      viewer: db.prepare(`SELECT id, email, display_name, max_rating, plan_id, subscription_starts_at, subscription_ends_at, created_at FROM viewers WHERE id = ?`),
      viewerByEmail: db.prepare(`SELECT * FROM viewers WHERE email = ?`),
      passwordHash: db.prepare(`SELECT password_hash FROM viewers WHERE id = ?`),
      setPasswordHash: db.prepare(`UPDATE viewers SET password_hash = ?, updated_at = ? WHERE id = ?`),
      updateViewer: db.prepare(
        `UPDATE viewers SET display_name = @displayName, max_rating = @maxRating, plan_id = @planId,
           subscription_starts_at = @subscriptionStartsAt, subscription_ends_at = @subscriptionEndsAt, updated_at = @now WHERE id = @id`,
      ),
      listViewers: db.prepare(`SELECT id, email, display_name, max_rating, plan_id, subscription_starts_at, subscription_ends_at, created_at FROM viewers ORDER BY created_at, id LIMIT ? OFFSET ?`),
      countViewers: db.prepare(`SELECT count(*) AS n FROM viewers`),
      deleteViewer: db.prepare(`DELETE FROM viewers WHERE id = ?`),
      plans: db.prepare(`SELECT * FROM plans ORDER BY max_height, id`),
      plan: db.prepare(`SELECT * FROM plans WHERE id = ?`),
      countPlans: db.prepare(`SELECT count(*) AS n FROM plans`),
      putPlan: db.prepare(
        `INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at)
         VALUES (@id, @name, @maxStreams, @maxDevices, @maxHeight, @packages, @now)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, max_streams = excluded.max_streams, max_devices = excluded.max_devices,
           max_height = excluded.max_height, packages = excluded.packages, updated_at = excluded.updated_at`,
      ),
      deletePlan: db.prepare(`DELETE FROM plans WHERE id = ?`),
      planInUse: db.prepare(`SELECT count(*) AS n FROM viewers WHERE plan_id = ?`),
      devices: db.prepare(`SELECT * FROM viewer_devices WHERE viewer_id = ? ORDER BY registered_at, device_id`),
      device: db.prepare(`SELECT * FROM viewer_devices WHERE viewer_id = ? AND device_id = ?`),
      insertDevice: db.prepare(
        `INSERT INTO viewer_devices (viewer_id, device_id, family, model, app_version, registered_at, last_seen_at)
         VALUES (@viewerId, @id, @family, @model, @appVersion, @now, @now)`,
      ),
      touchDevice: db.prepare(`UPDATE viewer_devices SET family = @family, model = @model, app_version = @appVersion, last_seen_at = @now WHERE viewer_id = @viewerId AND device_id = @id`),
      deleteDevice: db.prepare(`DELETE FROM viewer_devices WHERE viewer_id = ? AND device_id = ?`),
      insertRefresh: db.prepare(
        `INSERT INTO refresh_tokens (id, family_id, viewer_id, device_id, token_hash, created_at, expires_at) VALUES (@id, @familyId, @viewerId, @deviceId, @tokenHash, @now, @expiresAt)`,
      ),
      refresh: db.prepare(`SELECT * FROM refresh_tokens WHERE id = ?`),
      rotateRefresh: db.prepare(`UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL`),
      revokeFamily: db.prepare(`UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`),
      revokeDevice: db.prepare(`UPDATE refresh_tokens SET revoked_at = ? WHERE viewer_id = ? AND device_id = ? AND revoked_at IS NULL`),
      pruneRefresh: db.prepare(`DELETE FROM refresh_tokens WHERE expires_at < ?`),
      insertRental: db.prepare(`INSERT INTO rentals (id, viewer_id, content_id, starts_at, ends_at, created_at) VALUES (@id, @viewerId, @contentId, @startsAt, @endsAt, @now)`),
      rentals: db.prepare(`SELECT * FROM rentals WHERE viewer_id = ? ORDER BY starts_at`),
      activeRental: db.prepare(`SELECT * FROM rentals WHERE viewer_id = ? AND content_id = ? AND starts_at <= ? AND ends_at > ? LIMIT 1`),
    };
  }

  // Viewers

  private remember<T>(cache: Map<string, T>, key: string, read: () => T): T {
    if (cache.has(key)) return cache.get(key)!;
    const value = read();
    if (cache.size >= ViewerStore.cacheLimit) cache.clear();
    cache.set(key, value);
    return value;
  }

  createViewer(viewer: Viewer & { passwordHash: string }): void {
    this.s.insertViewer.run(viewer);
    this.cached.viewers.delete(viewer.id);
  }

  viewer(id: string): Viewer | null {
    return this.remember(this.cached.viewers, id, () => {
      const row = this.s.viewer.get(id) as ViewerRow | undefined;
      return row ? viewerOf(row) : null;
    });
  }

  /** The viewer with this address (any case) and its password hash, for signing in. */
  viewerForSignIn(email: string): (Viewer & { passwordHash: string }) | null {
    const row = this.s.viewerByEmail.get(foldEmail(email)) as (ViewerRow & { password_hash: string }) | undefined;
    return row ? { ...viewerOf(row), passwordHash: row.password_hash } : null;
  }

  emailTaken(email: string): boolean {
    return this.s.viewerByEmail.get(foldEmail(email)) !== undefined;
  }

  setPasswordHash(id: string, hash: string, now: number): void {
    this.s.setPasswordHash.run(hash, now, id);
  }

  updateViewer(viewer: Viewer, now: number): void {
    this.s.updateViewer.run({ ...viewer, now });
    this.cached.viewers.delete(viewer.id);
  }

  listViewers(limit: number, offset: number): { items: Viewer[]; total: number } {
    const rows = this.s.listViewers.all(limit, offset) as ViewerRow[];
    return { items: rows.map(viewerOf), total: (this.s.countViewers.get() as { n: number }).n };
  }

  deleteViewer(id: string): boolean {
    this.cached.viewers.delete(id);
    this.cached.rentals.delete(id);
    this.cached.devices.clear(); // its devices went with it
    return this.s.deleteViewer.run(id).changes > 0;
  }

  // Plans

  /** Drops what is held of this viewer (another node changed it): the next read goes to the database. */
  forgetViewer(id: string): void {
    this.cached.viewers.delete(id);
    this.cached.rentals.delete(id);
  }

  /** Drops one device of a viewer; `key` is `viewerId/deviceId`. */
  forgetDevice(key: string): void {
    this.cached.devices.delete(key);
  }

  forgetPlan(id: string): void {
    this.cached.plans.delete(id);
  }

  /** Drops everything held (changes may have been missed). */
  forgetAll(): void {
    for (const cache of Object.values(this.cached)) cache.clear();
  }

  plans(): Plan[] {
    return (this.s.plans.all() as PlanRow[]).map(planOf);
  }

  plan(id: string): Plan | null {
    return this.remember(this.cached.plans, id, () => {
      const row = this.s.plan.get(id) as PlanRow | undefined;
      return row ? planOf(row) : null;
    });
  }

  putPlan(plan: Plan, now: number): void {
    this.s.putPlan.run({ ...plan, packages: JSON.stringify(plan.packages), now });
    this.cached.plans.delete(plan.id);
  }

  /** Seeds plans on a fresh install (a catalog with none). */
  seedPlans(plans: readonly Plan[], now: number): void {
    if ((this.s.countPlans.get() as { n: number }).n > 0) return;
    this.db.transaction(() => plans.forEach((plan) => this.putPlan(plan, now)))();
  }

  planInUse(id: string): boolean {
    return (this.s.planInUse.get(id) as { n: number }).n > 0;
  }

  deletePlan(id: string): boolean {
    this.cached.plans.delete(id);
    return this.s.deletePlan.run(id).changes > 0;
  }

  // Devices

  devices(viewerId: string): Device[] {
    return (this.s.devices.all(viewerId) as DeviceRow[]).map(deviceOf);
  }

  device(viewerId: string, deviceId: string): Device | null {
    return this.remember(this.cached.devices, `${viewerId}/${deviceId}`, () => {
      const row = this.s.device.get(viewerId, deviceId) as DeviceRow | undefined;
      return row ? deviceOf(row) : null;
    });
  }

  /**
   * Registers a device (or refreshes what it says of itself), unless that would pass `limit`
   * devices: check and insert in one transaction, so two first sign-ins cannot both slip in.
   */
  registerDevice(viewerId: string, device: Pick<Device, 'id' | 'family' | 'model' | 'appVersion'>, limit: number, now: number): { registered: true } | { registered: false; devices: Device[] } {
    this.cached.devices.delete(`${viewerId}/${device.id}`);
    return this.db.transaction(() => {
      const params = { viewerId, ...device, now };
      if (this.s.device.get(viewerId, device.id)) {
        this.s.touchDevice.run(params);
        return { registered: true as const };
      }
      const devices = this.devices(viewerId);
      if (devices.length >= limit) return { registered: false as const, devices };
      this.s.insertDevice.run(params);
      return { registered: true as const };
    })();
  }

  /** Removes a device and revokes its refresh tokens: it must sign in again. */
  removeDevice(viewerId: string, deviceId: string, now: number): boolean {
    this.cached.devices.delete(`${viewerId}/${deviceId}`);
    return this.db.transaction(() => {
      this.s.revokeDevice.run(now, viewerId, deviceId);
      return this.s.deleteDevice.run(viewerId, deviceId).changes > 0;
    })();
  }

  // Refresh tokens

  insertRefresh(record: Omit<RefreshRecord, 'rotatedAt' | 'revokedAt'>, now: number): void {
    this.s.insertRefresh.run({ ...record, now });
  }

  refresh(id: string): RefreshRecord | null {
    const row = this.s.refresh.get(id) as
      | { id: string; family_id: string; viewer_id: string; device_id: string; token_hash: string; expires_at: number; rotated_at: number | null; revoked_at: number | null }
      | undefined;
    if (!row) return null;
    return { id: row.id, familyId: row.family_id, viewerId: row.viewer_id, deviceId: row.device_id, tokenHash: row.token_hash, expiresAt: row.expires_at, rotatedAt: row.rotated_at, revokedAt: row.revoked_at };
  }

  /** Marks a refresh token used and issues its successor in one transaction; false if it was already used. */
  rotateRefresh(id: string, next: Omit<RefreshRecord, 'rotatedAt' | 'revokedAt'>, now: number): boolean {
    return this.db.transaction(() => {
      if (this.s.rotateRefresh.run(now, id).changes === 0) return false;
      this.insertRefresh(next, now);
      return true;
    })();
  }

  revokeFamily(familyId: string, now: number): void {
    this.s.revokeFamily.run(now, familyId);
  }

  pruneRefresh(now: number): number {
    return this.s.pruneRefresh.run(now).changes;
  }

  // Rentals

  addRental(rental: Rental, now: number): void {
    this.s.insertRental.run({ ...rental, now });
    this.cached.rentals.delete(rental.viewerId);
  }

  /** A viewer's rentals (read on every home screen: kept until one is added). */
  rentals(viewerId: string): Rental[] {
    return this.remember(this.cached.rentals, viewerId, () => {
      const rows = this.s.rentals.all(viewerId) as { id: string; viewer_id: string; content_id: string; starts_at: number; ends_at: number }[];
      return rows.map((r) => ({ id: r.id, viewerId: r.viewer_id, contentId: r.content_id, startsAt: r.starts_at, endsAt: r.ends_at }));
    });
  }

  hasRental(viewerId: string, contentId: string, now: number): boolean {
    return this.s.activeRental.get(viewerId, contentId, now, now) !== undefined;
  }
}
