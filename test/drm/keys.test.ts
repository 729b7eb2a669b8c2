import t from 'tap';
import { randomBytes } from 'node:crypto';
import { parseMasterKey } from '../../src/drm/keys.js';

t.test('the master key is 32 bytes, as hex or base64, and a wrong one is named', async (t) => {
  const key = randomBytes(32);
  t.ok(parseMasterKey(key.toString('hex')).equals(key));
  t.ok(parseMasterKey(key.toString('base64')).equals(key));
  t.throws(() => parseMasterKey('abcd'), /must be 32 bytes .* decodes to 3 bytes/);
});
