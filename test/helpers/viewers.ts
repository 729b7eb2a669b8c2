import type { Db } from '../../src/catalog/database.js';
import { ViewerAccounts } from '../../src/viewers/accounts.js';
import { LoginThrottle } from '../../src/viewers/login-throttle.js';
import { defaultPlans } from '../../src/viewers/plans.js';
import { ViewerStore } from '../../src/viewers/store.js';

/** Viewer accounts on a test catalog, with the default plans, on the given clock. */
export function testAccounts(db: Db, clock: { now(): number }) {
  const store = new ViewerStore(db);
  store.seedPlans(defaultPlans, clock.now());
  const accounts = new ViewerAccounts({
    store,
    throttle: new LoginThrottle({ perAccount: 3, perAddress: 50, windowMs: 60_000, clock }),
    clock,
    secret: 'a-test-viewer-secret',
    accessTtlSeconds: 900,
    refreshTtlSeconds: 86_400,
    scryptCost: { N: 2 ** 12, r: 8, p: 1 }, // cheap for tests; the default's cost is the same code
  });
  return { store, accounts };
}
