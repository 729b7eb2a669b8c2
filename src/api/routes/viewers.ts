import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Clock } from '../../clock.js';
import { WeirError } from '../../errors.js';
import { publicDevice, type ViewerAccounts, type ViewerIdentity } from '../../viewers/accounts.js';
import { deviceFamilies, type Plan } from '../../viewers/plans.js';
import type { Viewer } from '../../viewers/store.js';
import { adminCheck, bearerOf, jsonBody, parseInput, requireAdmin } from '../http.js';

const email = z.string().trim().min(3).max(254).regex(/^[^\s@]+@[^\s@]+$/, 'an email address (name@domain)');
const password = z.string().min(10, 'at least 10 characters').max(1024);
const isoDate = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));
const id = z.string().trim().min(1).max(200);

export const signUpBody = z.strictObject({ email, password, displayName: z.string().trim().max(200).optional() });
export const createViewerBody = signUpBody.extend({
  maxRating: z.string().min(1).max(32).nullable().optional(),
  planId: z.string().min(1).max(64).nullable().optional(),
  subscriptionStartsAt: isoDate.nullable().optional(),
  subscriptionEndsAt: isoDate.nullable().optional(),
});
export const updateViewerBody = createViewerBody.omit({ email: true, password: true }).partial();
const device = z.strictObject({ id: id, family: z.enum(deviceFamilies), model: z.string().max(200).optional(), appVersion: z.string().max(100).optional() });
export const loginBody = z.strictObject({ email, password: z.string().min(1).max(1024), device });
export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(500) });
export const planBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  maxStreams: z.number().int().min(1).max(100),
  maxDevices: z.number().int().min(1).max(1000),
  maxHeight: z.number().int().min(144).max(4320),
  packages: z.array(z.string().trim().min(1).max(64)).max(100),
});
export const rentalBody = z.strictObject({ contentId: id, startsAt: isoDate.optional(), endsAt: isoDate });
export const viewerListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50), offset: z.coerce.number().int().min(0).default(0) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A viewer as the API shows it (never the password hash). */
export function viewerResource(viewer: Viewer) {
  return {
    id: viewer.id,
    email: viewer.email,
    displayName: viewer.displayName,
    maxRating: viewer.maxRating,
    planId: viewer.planId,
    subscriptionStartsAt: iso(viewer.subscriptionStartsAt),
    subscriptionEndsAt: iso(viewer.subscriptionEndsAt),
    createdAt: iso(viewer.createdAt),
  };
}

export type ViewerRoutesDeps = {
  accounts: ViewerAccounts;
  adminToken: string;
  selfSignUp: boolean;
  clock: Clock;
};

/** The signed-in viewer of a request (its bearer access token), or a coded refusal. */
export function requireViewer(req: Request, accounts: ViewerAccounts): ViewerIdentity {
  const token = bearerOf(req.header('authorization'));
  if (!token) throw new WeirError('VIEWER_AUTH_REQUIRED', 'This route needs "Authorization: Bearer <access token>" from POST /v1/auth/login.');
  return accounts.verifyAccess(token);
}

/** Viewer accounts, sign-in, devices, plans and rentals. */
export function viewerRoutes(deps: ViewerRoutesDeps): Router {
  const router = Router();
  const json = jsonBody('16kb');
  const admin = requireAdmin(deps.adminToken);
  const isAdmin = adminCheck(deps.adminToken);
  const { accounts } = deps;
  const store = accounts.store;
  const findViewer = (viewerId: string) => {
    const viewer = store.viewer(viewerId);
    if (!viewer) throw new WeirError('VIEWER_NOT_FOUND', `No viewer with id ${JSON.stringify(viewerId)}.`);
    return viewer;
  };

  router.post('/v1/viewers', json, async (req, res) => {
    const byAdmin = isAdmin(req);
    if (!byAdmin && !deps.selfSignUp) throw new WeirError('SIGNUP_DISABLED', 'Viewers cannot sign themselves up here; ask the operator for an account.');
    // Self sign-up creates a bare account: plans and limits are the operator's to give.
    const body = byAdmin ? parseInput(createViewerBody, req.body ?? {}, 'viewer body') : parseInput(signUpBody, req.body ?? {}, 'sign-up body');
    const viewer = await accounts.create(body);
    req.log.info({ viewerId: viewer.id, byAdmin }, 'viewer created');
    res.status(201).location(`/v1/viewers/${viewer.id}`).json(viewerResource(viewer));
  });
  router.get('/v1/viewers', admin, (req, res) => {
    const query = parseInput(viewerListQuery, req.query, 'query');
    const { items, total } = store.listViewers(query.limit, query.offset);
    res.json({ items: items.map(viewerResource), total, limit: query.limit, offset: query.offset });
  });
  router.get('/v1/viewers/:id', admin, (req, res) => {
    res.json(viewerResource(findViewer(String(req.params.id))));
  });
  router.patch('/v1/viewers/:id', admin, json, (req, res) => {
    const viewer = findViewer(String(req.params.id));
    const body = parseInput(updateViewerBody, req.body ?? {}, 'viewer update');
    if (body.planId && !store.plan(body.planId)) throw new WeirError('PLAN_NOT_FOUND', `No plan with id ${JSON.stringify(body.planId)}.`);
    const now = deps.clock.now();
    const updated: Viewer = {
      ...viewer,
      ...(body.displayName !== undefined ? { displayName: body.displayName } : {}),
      ...(body.maxRating !== undefined ? { maxRating: body.maxRating } : {}),
      ...(body.planId !== undefined ? { planId: body.planId, subscriptionStartsAt: body.subscriptionStartsAt ?? viewer.subscriptionStartsAt ?? now } : {}),
      ...(body.subscriptionStartsAt !== undefined ? { subscriptionStartsAt: body.subscriptionStartsAt } : {}),
      ...(body.subscriptionEndsAt !== undefined ? { subscriptionEndsAt: body.subscriptionEndsAt } : {}),
    };
    store.updateViewer(updated, now);
    res.json(viewerResource(updated));
  });
  router.delete('/v1/viewers/:id', admin, (req, res) => {
    if (!store.deleteViewer(String(req.params.id))) throw new WeirError('VIEWER_NOT_FOUND', `No viewer with id ${JSON.stringify(req.params.id)}.`);
    res.status(204).end();
  });
  router.get('/v1/viewers/:id/devices', admin, (req, res) => {
    res.json({ items: store.devices(findViewer(String(req.params.id)).id).map(publicDevice) });
  });
  router.post('/v1/viewers/:id/rentals', admin, json, (req, res) => {
    const viewer = findViewer(String(req.params.id));
    const body = parseInput(rentalBody, req.body ?? {}, 'rental body');
    const now = deps.clock.now();
    const rental = { id: randomUUID(), viewerId: viewer.id, contentId: body.contentId, startsAt: body.startsAt ?? now, endsAt: body.endsAt };
    if (rental.endsAt <= rental.startsAt) throw new WeirError('VALIDATION_FAILED', `A rental must end after it starts; endsAt ${iso(rental.endsAt)} is not after ${iso(rental.startsAt)}.`);
    store.addRental(rental, now);
    res.status(201).json({ id: rental.id, contentId: rental.contentId, startsAt: iso(rental.startsAt), endsAt: iso(rental.endsAt) });
  });

  router.post('/v1/auth/login', json, async (req, res) => {
    const body = parseInput(loginBody, req.body ?? {}, 'sign-in body');
    const signed = await accounts.login(body, req.ip ?? 'unknown');
    req.log.info({ viewerId: signed.viewer.id, family: body.device.family }, 'viewer signed in');
    res.setHeader('cache-control', 'no-store');
    res.json({
      viewer: viewerResource(signed.viewer),
      accessToken: signed.accessToken,
      accessTokenExpiresAt: iso(signed.accessExpiresAt),
      refreshToken: signed.refreshToken,
      refreshTokenExpiresAt: iso(signed.refreshExpiresAt),
    });
  });
  router.post('/v1/auth/refresh', json, async (req, res) => {
    const body = parseInput(refreshBody, req.body ?? {}, 'refresh body');
    const signed = await accounts.refresh(body.refreshToken);
    res.setHeader('cache-control', 'no-store');
    res.json({ accessToken: signed.accessToken, accessTokenExpiresAt: iso(signed.accessExpiresAt), refreshToken: signed.refreshToken, refreshTokenExpiresAt: iso(signed.refreshExpiresAt) });
  });
  router.post('/v1/auth/logout', json, (req, res) => {
    const body = parseInput(refreshBody, req.body ?? {}, 'sign-out body');
    accounts.logout(body.refreshToken);
    res.status(204).end();
  });

  router.get('/v1/me', async (req, res) => {
    const me = requireViewer(req, accounts);
    res.json(viewerResource(findViewer(me.viewerId)));
  });
  router.get('/v1/me/devices', async (req, res) => {
    const me = requireViewer(req, accounts);
    res.json({ items: store.devices(me.viewerId).map((d) => ({ ...publicDevice(d), current: d.id === me.deviceId })) });
  });
  router.delete('/v1/me/devices/:deviceId', async (req, res) => {
    const me = requireViewer(req, accounts);
    if (!store.removeDevice(me.viewerId, String(req.params.deviceId), deps.clock.now())) {
      throw new WeirError('DEVICE_NOT_FOUND', `You have no device ${JSON.stringify(req.params.deviceId)}.`);
    }
    res.status(204).end();
  });

  // Plans are public (an app shows them to upsell); changing them is the operator's.
  router.get('/v1/plans', (_req, res) => {
    res.json({ items: store.plans() });
  });
  router.put('/v1/plans/:id', admin, json, (req, res) => {
    const planId = parseInput(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a plan id of lower-case letters, digits, "-" and "_"'), String(req.params.id), 'plan id');
    const plan: Plan = { id: planId, ...parseInput(planBody, req.body ?? {}, 'plan body') };
    const existed = store.plan(planId) !== null;
    store.putPlan(plan, deps.clock.now());
    res.status(existed ? 200 : 201).json(plan);
  });
  router.delete('/v1/plans/:id', admin, (req, res) => {
    const planId = String(req.params.id);
    if (!store.plan(planId)) throw new WeirError('PLAN_NOT_FOUND', `No plan with id ${JSON.stringify(planId)}.`);
    if (store.planInUse(planId)) throw new WeirError('PLAN_IN_USE', `Viewers are subscribed to plan ${planId}; move them to another plan first.`);
    store.deletePlan(planId);
    res.status(204).end();
  });
  return router;
}
