import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/catalog/database.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';
import { testAccounts } from '../helpers/viewers.js';

function setUp(t: Test, catalog: TestCatalog) {
  const db = catalog.db;
  let now = Date.parse('2026-12-02T12:00:00Z');
  const clock = { now: () => now };
  const { store, accounts } = testAccounts(db, clock);
  return { db, store, accounts, advance: (ms: number) => (now += ms) };
}

const web = { id: 'laptop', family: 'web' as const };

onEachEngine(t, 'an email address is one account in any letter case, and its password is stored only as a salted scrypt hash', async (t, catalog) => {
  const { db, accounts } = setUp(t, catalog);
  const viewer = await accounts.create({ email: 'Ann@Example.COM', password: 'correct horse battery', planId: 'basic' });
  t.equal(viewer.email, 'ann@example.com');
  await t.rejects(accounts.create({ email: 'ANN@example.com', password: 'another password' }), { code: 'EMAIL_TAKEN' });
  const row = db.prepare('SELECT password_hash FROM viewers WHERE id = ?').get(viewer.id) as { password_hash: string };
  t.match(row.password_hash, /^scrypt\$4096\$8\$1\$[\w-]+\$[\w-]+$/);
  t.notMatch(row.password_hash, /correct horse/);
  await t.rejects(accounts.create({ email: 'bob@example.com', password: 'a long password', planId: 'gold' }), { code: 'PLAN_NOT_FOUND' });
});

onEachEngine(t, 'signing in gives a short-lived access token naming viewer and device, and a wrong password is refused without telling which part was wrong', async (t, catalog) => {
  const { accounts, advance } = setUp(t, catalog);
  const viewer = await accounts.create({ email: 'ann@example.com', password: 'correct horse battery', planId: 'basic' });
  const signed = await accounts.login({ email: 'ANN@example.com', password: 'correct horse battery', device: web }, '192.0.2.1');
  t.same(accounts.verifyAccess(signed.accessToken), { viewerId: viewer.id, deviceId: 'laptop', family: 'web' });
  await t.rejects(accounts.login({ email: 'ann@example.com', password: 'wrong', device: web }, '192.0.2.1'), { code: 'LOGIN_FAILED', message: 'The email address or password is not right.' });
  await t.rejects(accounts.login({ email: 'nobody@example.com', password: 'wrong', device: web }, '192.0.2.1'), { code: 'LOGIN_FAILED', message: 'The email address or password is not right.' });
  advance(901_000);
  t.throws(() => accounts.verifyAccess(signed.accessToken), { code: 'VIEWER_TOKEN_INVALID' }, 'the access token lapses');
  t.throws(() => accounts.verifyAccess(signed.accessToken.slice(0, -2) + 'xx'), { code: 'VIEWER_TOKEN_INVALID' });
});

onEachEngine(t, 'repeated failures are throttled with the time to wait, even with the right password', async (t, catalog) => {
  const { accounts } = setUp(t, catalog);
  await accounts.create({ email: 'ann@example.com', password: 'correct horse battery' });
  for (let i = 0; i < 3; i++) await t.rejects(accounts.login({ email: 'ann@example.com', password: `guess ${i}`, device: web }, `192.0.2.${i}`), { code: 'LOGIN_FAILED' });
  const refused = accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: web }, '198.51.100.1');
  await t.rejects(refused, { code: 'LOGIN_THROTTLED', status: 429, details: { retryAfterSeconds: 60 } });
});

onEachEngine(t, 'a refresh token is spent when used; using it again revokes every token of that sign-in', async (t, catalog) => {
  const { accounts } = setUp(t, catalog);
  await accounts.create({ email: 'ann@example.com', password: 'correct horse battery' });
  const first = await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: web }, '192.0.2.1');
  const second = await accounts.refresh(first.refreshToken);
  t.not(second.refreshToken, first.refreshToken, 'a new refresh token each time');
  const third = await accounts.refresh(second.refreshToken);
  await t.rejects(accounts.refresh(first.refreshToken), { code: 'REFRESH_TOKEN_INVALID', message: /already used/ }, 'replaying a spent token');
  await t.rejects(accounts.refresh(third.refreshToken), { code: 'REFRESH_TOKEN_INVALID' }, 'the newest token of that family is revoked too');

  const other = await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: { id: 'tv', family: 'androidtv' } }, '192.0.2.1');
  t.ok(await accounts.refresh(other.refreshToken), 'another sign-in is untouched');
  await t.rejects(accounts.refresh(`${other.refreshToken.split('.')[0]}.forged`), { code: 'REFRESH_TOKEN_INVALID' }, 'a forged secret');
});

onEachEngine(t, 'signing out revokes the sign-in, and a removed device must sign in again', async (t, catalog) => {
  const { accounts, store, advance } = setUp(t, catalog);
  const viewer = await accounts.create({ email: 'ann@example.com', password: 'correct horse battery' });
  const signed = await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: web }, '192.0.2.1');
  accounts.logout(signed.refreshToken);
  await t.rejects(accounts.refresh(signed.refreshToken), { code: 'REFRESH_TOKEN_INVALID' });
  const again = await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: web }, '192.0.2.1');
  t.ok(store.removeDevice(viewer.id, 'laptop', advance(1000)));
  await t.rejects(accounts.refresh(again.refreshToken), { code: 'REFRESH_TOKEN_INVALID' });
});

onEachEngine(t, 'a plan caps the devices a viewer may sign in on; the refusal lists them', async (t, catalog) => {
  const { accounts } = setUp(t, catalog);
  await accounts.create({ email: 'ann@example.com', password: 'correct horse battery', planId: 'basic' }); // 2 devices
  for (const id of ['phone', 'tv']) await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: { id, family: 'android' } }, '192.0.2.1');
  await accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: { id: 'tv', family: 'androidtv', model: 'Chromecast' } }, '192.0.2.1');
  const refused = accounts.login({ email: 'ann@example.com', password: 'correct horse battery', device: web }, '192.0.2.1');
  await t.rejects(refused, { code: 'DEVICE_LIMIT_REACHED', details: { limit: 2, devices: [{ id: 'phone' }, { id: 'tv', family: 'androidtv', model: 'Chromecast' }] } });
});

onEachEngine(t, 'a subscription covers its dates only, and the plan gives packages only while it does', async (t, catalog) => {
  const { accounts } = setUp(t, catalog);
  const viewer = await accounts.create({ email: 'ann@example.com', password: 'correct horse battery', planId: 'standard', subscriptionEndsAt: Date.parse('2026-12-03T12:00:00Z') });
  const now = Date.parse('2026-12-02T12:00:00Z');
  t.match(accounts.entitlement(viewer.id, now), { subscribed: true, plan: { id: 'standard', maxStreams: 2, maxHeight: 1080 } });
  t.match(accounts.entitlement(viewer.id, now + 86_400_000), { subscribed: false });
  t.equal(accounts.entitlement('nobody', now), null);
});
