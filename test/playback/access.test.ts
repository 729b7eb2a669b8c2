import t from 'tap';
import type { ContentAccess } from '../../src/catalog/access.js';
import { judgeAccess, type AccessQuestion } from '../../src/playback/access.js';

const day = 86_400_000;
const now = Date.parse('2026-12-02T12:00:00Z');
const plans = [
  { id: 'basic', name: 'Basic', packages: ['standard'] },
  { id: 'premium', name: 'Premium', packages: ['standard', 'sports'] },
];
const open: ContentAccess = { packages: ['standard'], availableFrom: null, availableUntil: null, geo: null, rating: null };
const subscriber = { packages: ['standard'], rented: () => false, maxRating: null };

const ask = (access: Partial<ContentAccess>, question: Partial<AccessQuestion> = {}) =>
  judgeAccess({
    access: { ...open, ...access },
    viewer: subscriber,
    country: 'DE',
    now,
    plans: () => plans,
    ratings: ['G', 'PG', 'PG-13', 'R'],
    unknownCountry: 'allow',
    ...question,
  });

t.test('each refusal has its own code, status and details, and a viewer the rules admit gets none', async (t) => {
  const cases: { name: string; access: Partial<ContentAccess>; question?: Partial<AccessQuestion>; code: string | null; status?: number; details?: unknown }[] = [
    { name: 'entitled subscriber', access: {}, code: null },
    { name: 'nobody signed in, paid content', access: {}, question: { viewer: null }, code: 'VIEWER_AUTH_REQUIRED', status: 401 },
    { name: 'nobody signed in, free content', access: { packages: ['free'] }, question: { viewer: null }, code: null },
    { name: 'plan lacks the package', access: { packages: ['sports'] }, code: 'NOT_ENTITLED', status: 403, details: { plans: [{ id: 'premium', name: 'Premium' }] } },
    { name: 'a rental of this content', access: { packages: ['sports'] }, question: { viewer: { ...subscriber, packages: [], rented: () => true } }, code: null },
    { name: 'before the window', access: { availableFrom: now + day }, code: 'CONTENT_NOT_YET_AVAILABLE', status: 403, details: { availableFrom: new Date(now + day).toISOString() } },
    { name: 'after the window', access: { availableUntil: now - day }, code: 'CONTENT_NO_LONGER_AVAILABLE', status: 403, details: { availableUntil: new Date(now - day).toISOString() } },
    { name: 'inside the window', access: { availableFrom: now - day, availableUntil: now + day }, code: null },
    { name: 'country not on the allow list', access: { geo: { mode: 'allow', countries: ['FR'] } }, code: 'GEO_BLOCKED', status: 451, details: { country: 'DE' } },
    { name: 'country on the deny list', access: { geo: { mode: 'deny', countries: ['DE'] } }, code: 'GEO_BLOCKED', status: 451 },
    { name: 'country on the allow list', access: { geo: { mode: 'allow', countries: ['DE'] } }, code: null },
    { name: 'unknown country, policy deny', access: { geo: { mode: 'deny', countries: ['FR'] } }, question: { country: null, unknownCountry: 'deny' }, code: 'GEO_BLOCKED', status: 451 },
    { name: 'unknown country, policy allow', access: { geo: { mode: 'allow', countries: ['FR'] } }, question: { country: null }, code: null },
    { name: 'rating above the limit', access: { rating: 'R' }, question: { viewer: { ...subscriber, maxRating: 'PG-13' } }, code: 'RATING_BLOCKED', status: 403, details: { rating: 'R', maxRating: 'PG-13' } },
    { name: 'rating at the limit', access: { rating: 'PG-13' }, question: { viewer: { ...subscriber, maxRating: 'PG-13' } }, code: null },
    { name: 'rating off the scale, with a limit', access: { rating: 'X' }, question: { viewer: { ...subscriber, maxRating: 'R' } }, code: 'RATING_BLOCKED' },
  ];
  for (const c of cases) {
    const refusal = ask(c.access, c.question);
    t.equal(refusal?.code ?? null, c.code, c.name);
    if (c.status !== undefined) t.equal(refusal?.status, c.status, `${c.name}: status`);
    if (c.details !== undefined) t.match(refusal?.details, c.details, `${c.name}: details`);
  }
});

t.test('the checks run in order: entitlement before the window, the window before geo, geo before rating', async (t) => {
  const everythingWrong: Partial<ContentAccess> = { packages: ['sports'], availableFrom: now + day, geo: { mode: 'allow', countries: ['FR'] }, rating: 'R' };
  const strict = { viewer: { ...subscriber, maxRating: 'G' } };
  t.equal(ask(everythingWrong, strict)?.code, 'NOT_ENTITLED');
  t.equal(ask({ ...everythingWrong, packages: ['standard'] }, strict)?.code, 'CONTENT_NOT_YET_AVAILABLE');
  t.equal(ask({ ...everythingWrong, packages: ['standard'], availableFrom: null }, strict)?.code, 'GEO_BLOCKED');
  t.equal(ask({ ...everythingWrong, packages: ['standard'], availableFrom: null, geo: null }, strict)?.code, 'RATING_BLOCKED');
});

t.test('a refusal for a package no plan includes says so instead of naming none', async (t) => {
  const refusal = ask({ packages: ['festival'] });
  t.equal(refusal?.code, 'NOT_ENTITLED');
  t.match(refusal?.message, /no plan offers it/);
  t.same(refusal?.details, { plans: [] });
});
