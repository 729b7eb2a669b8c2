import { timeOrderedId } from './ids.js';
import type { ContentAccess } from '../catalog/access.js';
import type { Clock } from '../clock.js';
import { WeirError } from '../errors.js';
import type { DeviceFamily } from '../viewers/plans.js';
import { judgeAccess, type PlanSummary } from './access.js';
import type { Lease, LeaseTable } from './leases.js';
import type { DeviceProfile } from './profiles.js';

/** What the playback service asks of the viewers service (declared here, by its user). */
export type ViewerDirectory = {
  entitlement(viewerId: string, now: number): { viewer: { maxRating: string | null }; plan: { maxStreams: number; maxHeight: number; packages: string[] } | null; subscribed: boolean } | null;
  hasRental(viewerId: string, contentId: string, now: number): boolean;
  plans(): PlanSummary[];
  device(viewerId: string, deviceId: string): { id: string; family: DeviceFamily; model: string | null } | null;
};

/** What it asks of the playback token issuer. */
export type SessionTokens = {
  issue(sessionId: string): string;
  /** The session a token names, and its content where the token says (else its lease does). */
  verify(token: string): { sessionId: string; contentId: string | null };
};

export type PlaybackServiceOptions = {
  leases: LeaseTable;
  tokens: SessionTokens;
  viewers: ViewerDirectory;
  accessOf: (contentId: string) => ContentAccess;
  profiles: Record<DeviceFamily, DeviceProfile>;
  ratings: readonly string[];
  unknownCountry: 'allow' | 'deny';
  clock: Clock;
};

/** Who asks to play: a signed-in viewer on a device, the operator, or nobody in particular. */
export type Requester = { kind: 'viewer'; viewerId: string; deviceId: string; family: DeviceFamily } | { kind: 'admin' } | { kind: 'anonymous' };

export type StartedSession = { lease: Lease; token: string; profile: DeviceProfile | null };

/**
 * The playback service: decides whether this requester may play this content here and now, and
 * takes the lease that makes it so. Everything it reads on the way is in memory or one indexed
 * row (the viewer and plan); the one write is the lease.
 */
export class PlaybackService {
  constructor(private readonly options: PlaybackServiceOptions) {}

  get leases(): LeaseTable {
    return this.options.leases;
  }

  async start(contentId: string, requester: Requester, country: string | null): Promise<StartedSession> {
    const now = this.options.clock.now();
    if (requester.kind === 'admin') return this.take(contentId, null, null, null, false, null, now);
    const { refusal, standing } = this.judge(contentId, requester, country, now);
    if (refusal) throw refusal;
    if (requester.kind === 'anonymous') return this.take(contentId, null, null, null, false, null, now);
    const { viewers } = this.options;
    const profile = this.options.profiles[requester.family];
    const plan = standing!.subscribed ? standing!.plan : null;
    const caps = [profile.maxHeight, ...(plan ? [plan.maxHeight] : [])];
    const device = viewers.device(requester.viewerId, requester.deviceId);
    if (!device) throw new WeirError('VIEWER_TOKEN_INVALID', 'This device was removed from the account; sign in again.');
    // A rental alone (no plan) still counts as one stream.
    return this.take(contentId, requester.viewerId, { id: device.id, family: device.family, model: device.model }, Math.min(...caps), true, plan?.maxStreams ?? 1, now, profile);
  }

  /** Why a session start would be refused, the stream limit aside (null: it would not). */
  refusal(contentId: string, requester: Requester, country: string | null): WeirError | null {
    return requester.kind === 'admin' ? null : this.judge(contentId, requester, country, this.options.clock.now()).refusal;
  }

  /** Whether a session start would pass every check but the stream limit (what a device may be shown). */
  mayWatch(contentId: string, requester: Requester, country: string | null): boolean {
    return requester.kind === 'admin' || this.judge(contentId, requester, country, this.options.clock.now()).refusal === null;
  }

  private judge(contentId: string, requester: Exclude<Requester, { kind: 'admin' }>, country: string | null, now: number) {
    const { viewers } = this.options;
    const standing = requester.kind === 'viewer' ? viewers.entitlement(requester.viewerId, now) : null;
    if (requester.kind === 'viewer' && !standing) {
      return { refusal: new WeirError('VIEWER_TOKEN_INVALID', 'The viewer of this access token no longer exists; sign in again.'), standing };
    }
    const refusal = judgeAccess({
      access: this.options.accessOf(contentId),
      viewer:
        requester.kind === 'viewer' && standing
          ? { packages: standing.subscribed && standing.plan ? standing.plan.packages : [], rented: () => viewers.hasRental(requester.viewerId, contentId, now), maxRating: standing.viewer.maxRating }
          : null,
      country,
      now,
      plans: () => viewers.plans(),
      ratings: this.options.ratings,
      unknownCountry: this.options.unknownCountry,
    });
    return { refusal, standing };
  }

  private async take(contentId: string, viewerId: string | null, device: Lease['device'], maxHeight: number | null, counted: boolean, limit: number | null, now: number, profile: DeviceProfile | null = null): Promise<StartedSession> {
    const id = timeOrderedId(now); // its row lands beside the last one (see the playback_sessions schema)
    const taken = this.options.leases.start({ id, contentId, viewerId, device, maxHeight, counted, startedAt: now }, limit);
    if ('holders' in taken) {
      throw new WeirError('STREAM_LIMIT_REACHED', `You are already watching on ${taken.holders.length} screen${taken.holders.length === 1 ? '' : 's'}, as many as your plan allows. Stop one to watch here.`, {
        limit,
        sessions: taken.holders.map((lease) => ({ id: lease.id, contentId: lease.contentId, device: lease.device, startedAt: new Date(lease.startedAt).toISOString() })),
      });
    }
    const token = this.options.tokens.issue(id);
    await taken.persisted;
    return { lease: taken.lease, token, profile };
  }

  /**
   * The media path's check: a valid token whose session still runs. Two map lookups; it renews
   * the lease as a heartbeat would. Throws the coded error the player should get.
   */
  authorize(token: string, contentId: string): Lease {
    const claims = this.options.tokens.verify(token);
    const wrongContent = () => new WeirError('PLAYBACK_TOKEN_WRONG_CONTENT', `The playback token is for other content; expected a token for ${contentId}.`);
    if (claims.contentId !== null && claims.contentId !== contentId) throw wrongContent();
    const now = this.options.clock.now();
    const lease = this.options.leases.alive(claims.sessionId, now);
    if (!lease) throw new WeirError('PLAYBACK_SESSION_ENDED', 'The playback session was stopped or has expired; start a new one.');
    if (lease.contentId !== contentId) throw wrongContent();
    this.options.leases.touch(lease, now);
    return lease;
  }
}
