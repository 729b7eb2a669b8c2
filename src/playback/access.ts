import { freePackage, type ContentAccess } from '../catalog/access.js';
import { WeirError } from '../errors.js';

/** What the access decision needs to know of a plan. */
export type PlanSummary = { id: string; name: string; packages: string[] };

/** The signed-in viewer, as far as the decision needs. */
export type ViewerStanding = {
  /** The plan's packages while the subscription covers now; none otherwise. */
  packages: string[];
  /** Whether a rental of this very content covers now (asked only when the plan does not include it). */
  rented: () => boolean;
  maxRating: string | null;
};

export type AccessQuestion = {
  access: ContentAccess;
  /** null: nobody signed in. */
  viewer: ViewerStanding | null;
  /** ISO 3166-1 alpha-2, or null when it could not be told. */
  country: string | null;
  now: number;
  /** Every plan (read only when the answer must name those that include the content). */
  plans: () => readonly PlanSummary[];
  /** Content ratings from mildest to strongest. */
  ratings: readonly string[];
  /** What to do with a viewer whose country is unknown, when content has a geo rule. */
  unknownCountry: 'allow' | 'deny';
};

const isoDate = (ms: number) => new Date(ms).toISOString();

/**
 * May this viewer watch this content here and now? The checks run in a fixed order, and the
 * first that fails answers with its own code, status and a message a device can show:
 * signed in, entitled, within the availability window, in an allowed country, within the rating
 * limit. (The concurrent-stream limit comes last, where the lease is taken.)
 */
export function judgeAccess(question: AccessQuestion): WeirError | null {
  const { access, viewer, now } = question;
  const free = access.packages.includes(freePackage);
  if (!free) {
    if (!viewer) return new WeirError('VIEWER_AUTH_REQUIRED', 'Sign in to watch this.');
    const entitled = access.packages.some((p) => viewer.packages.includes(p)) || viewer.rented();
    if (!entitled) {
      const plans = question.plans().filter((plan) => plan.packages.some((p) => access.packages.includes(p)));
      const names = plans.map((plan) => plan.name);
      return new WeirError(
        'NOT_ENTITLED',
        names.length > 0 ? `Your plan does not include this; it is in ${names.join(', ')}.` : 'Your plan does not include this, and no plan offers it now.',
        { plans: plans.map((plan) => ({ id: plan.id, name: plan.name })) },
      );
    }
  }
  if (access.availableFrom !== null && now < access.availableFrom) {
    return new WeirError('CONTENT_NOT_YET_AVAILABLE', `This will be available from ${isoDate(access.availableFrom)}.`, { availableFrom: isoDate(access.availableFrom) });
  }
  if (access.availableUntil !== null && now >= access.availableUntil) {
    return new WeirError('CONTENT_NO_LONGER_AVAILABLE', `This was available until ${isoDate(access.availableUntil)}.`, { availableUntil: isoDate(access.availableUntil) });
  }
  if (access.geo) {
    const country = question.country;
    const allowed =
      country === null ? question.unknownCountry === 'allow' : access.geo.mode === 'allow' ? access.geo.countries.includes(country) : !access.geo.countries.includes(country);
    if (!allowed) {
      return new WeirError('GEO_BLOCKED', country === null ? 'This is not available where you are (your country could not be told).' : `This is not available in your country (${country}).`, { country });
    }
  }
  if (viewer?.maxRating && access.rating) {
    const limit = question.ratings.indexOf(viewer.maxRating);
    const rating = question.ratings.indexOf(access.rating);
    // A rating off the scale is above any limit: the safe reading.
    if (rating < 0 || limit < 0 || rating > limit) {
      return new WeirError('RATING_BLOCKED', `This is rated ${access.rating}, above your limit of ${viewer.maxRating}.`, { rating: access.rating, maxRating: viewer.maxRating });
    }
  }
  return null;
}
