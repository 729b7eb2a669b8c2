import t from 'tap';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/build-if-stale.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

t.test('npm start does not rebuild when no source changed since the last build', async (t) => {
  // `npm test` ran the same check before the suite, so dist/ is current now.
  const before = statSync(built).mtimeMs;
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  t.equal(run.status, 0);
  t.notMatch(run.stderr, /building/, 'it says nothing about building');
  t.equal(statSync(built).mtimeMs, before, 'and the built server is untouched');
});
