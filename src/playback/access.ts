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

/** The checks of an access decision, in the order they run. */
export type AccessRefusal = 'VIEWER_AUTH_REQUIRED' | 'NOT_ENTITLED' | 'CONTENT_NOT_YET_AVAILABLE' | 'CONTENT_NO_LONGER_AVAILABLE' | 'GEO_BLOCKED' | 'RATING_BLOCKED';

/**
 * The first check this viewer fails for this content here and now, or null: signed in,
 * entitled, within the availability window, in an allowed country, within the rating limit.
 * Allocates nothing, so a catalog of many titles can be filtered with it.
 */
export function firstRefusal(question: AccessQuestion): AccessRefusal | null {
  const { access, viewer, now } = question;
  if (!access.packages.includes(freePackage)) {
    if (!viewer) return 'VIEWER_AUTH_REQUIRED';
    if (!access.packages.some((p) => viewer.packages.includes(p)) && !viewer.rented()) return 'NOT_ENTITLED';
  }
  if (access.availableFrom !== null && now < access.availableFrom) return 'CONTENT_NOT_YET_AVAILABLE';
  if (access.availableUntil !== null && now >= access.availableUntil) return 'CONTENT_NO_LONGER_AVAILABLE';
  if (access.geo) {
    const country = question.country;
    const allowed = country === null ? question.unknownCountry === 'allow' : access.geo.mode === 'allow' ? access.geo.countries.includes(country) : !access.geo.countries.includes(country);
    if (!allowed) return 'GEO_BLOCKED';
  }
  if (viewer?.maxRating && access.rating) {
    const limit = question.ratings.indexOf(viewer.maxRating);
    const rating = question.ratings.indexOf(access.rating);
    // A rating off the scale is above any limit: the safe reading.
    if (rating < 0 || limit < 0 || rating > limit) return 'RATING_BLOCKED';
  }
  return null;
}

/**
 * May this viewer watch this content here and now? The first check that fails (firstRefusal)
 * answers with its own code, status and a message a device can show. (The concurrent-stream
 * limit comes last, where the lease is taken.)
 */
export function judgeAccess(question: AccessQuestion): WeirError | null {
  const { access, viewer } = question;
  switch (firstRefusal(question)) {
    case null:
      return null;
    case 'VIEWER_AUTH_REQUIRED':
      return new WeirError('VIEWER_AUTH_REQUIRED', 'Sign in to watch this.');
    case 'NOT_ENTITLED': {
      const plans = question.plans().filter((plan) => plan.packages.some((p) => access.packages.includes(p)));
      const names = plans.map((plan) => plan.name);
      return new WeirError(
        'NOT_ENTITLED',
        names.length > 0 ? `Your plan does not include this; it is in ${names.join(', ')}.` : 'Your plan does not include this, and no plan offers it now.',
        { plans: plans.map((plan) => ({ id: plan.id, name: plan.name })) },
      );
    }
    case 'CONTENT_NOT_YET_AVAILABLE':
      return new WeirError('CONTENT_NOT_YET_AVAILABLE', `This will be available from ${isoDate(access.availableFrom!)}.`, { availableFrom: isoDate(access.availableFrom!) });
    case 'CONTENT_NO_LONGER_AVAILABLE':
      return new WeirError('CONTENT_NO_LONGER_AVAILABLE', `This was available until ${isoDate(access.availableUntil!)}.`, { availableUntil: isoDate(access.availableUntil!) });
    case 'GEO_BLOCKED': {
      const country = question.country;
      return new WeirError('GEO_BLOCKED', country === null ? 'This is not available where you are (your country could not be told).' : `This is not available in your country (${country}).`, { country });
    }
    case 'RATING_BLOCKED':
      return new WeirError('RATING_BLOCKED', `This is rated ${access.rating}, above your limit of ${viewer!.maxRating}.`, { rating: access.rating, maxRating: viewer!.maxRating });
  }
}
