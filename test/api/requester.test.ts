import t, { type Test } from 'tap';
import type { Request } from 'express';
import { adminCheck } from '../../src/api/http.js';
import { requesterOf } from '../../src/api/requester.js';
import { openTestCatalog } from '../helpers/catalog.js';
import { testAccounts } from '../helpers/viewers.js';

const withBearer = (token: string | null) => ({ header: (name: string) => (name.toLowerCase() === 'authorization' && token !== null ? `Bearer ${token}` : undefined) }) as unknown as Request;

async function setUp(t: Test, adminToken: string) {
  const clock = { now: () => Date.parse('2026-12-02T12:00:00Z') };
  const { accounts } = testAccounts(openTestCatalog(t, 'sqlite').db, clock);
  const viewer = await accounts.create({ email: 'ann@example.com', password: 'correct horse battery', planId: 'basic' });
  const signed = await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: { id: 'tv', family: 'tvos' } }, '192.0.2.1');
  return { whoAsks: requesterOf(adminCheck(adminToken), accounts), viewer, accessToken: signed.accessToken };
}

t.test('a viewer token names its viewer and device, the admin token the operator, and no token nobody', async (t) => {
  const { whoAsks, viewer, accessToken } = await setUp(t, 'a-plain-admin-token');
  t.same(whoAsks(withBearer(accessToken)), { kind: 'viewer', viewerId: viewer.id, deviceId: 'tv', family: 'tvos' });
  t.same(whoAsks(withBearer('a-plain-admin-token')), { kind: 'admin' });
  t.same(whoAsks(withBearer(null)), { kind: 'anonymous' });
  t.throws(() => whoAsks(withBearer('not-a-token-of-anyone')), { code: 'VIEWER_TOKEN_INVALID' });
});

t.test('an admin token shaped like a viewer token is still the operator, and a forged viewer token is refused', async (t) => {
  const jwtShapedAdmin = 'eyJhbGciOiJIUzI1NiJ9.eyJhZG1pbiI6dHJ1ZX0.c2lnbmVkLWJ5LW5vYm9keQ';
  const { whoAsks, accessToken } = await setUp(t, jwtShapedAdmin);
  t.same(whoAsks(withBearer(jwtShapedAdmin)), { kind: 'admin' });
  const [header, payload] = accessToken.split('.');
  t.throws(() => whoAsks(withBearer(`${header}.${payload}.c2lnbmVkLWJ5LW5vYm9keQ`)), { code: 'VIEWER_TOKEN_INVALID' });
});
