import t from 'tap';
import { secretsEqual } from '../src/secrets.js';

t.test('secrets compare equal only when identical, whatever their lengths', async (t) => {
  t.ok(secretsEqual('the-admin-token', 'the-admin-token'));
  t.notOk(secretsEqual('the-admin-token-', 'the-admin-token'), 'a longer guess');
  t.notOk(secretsEqual('the-admin-toke', 'the-admin-token'), 'a shorter guess');
  t.notOk(secretsEqual('THE-ADMIN-TOKEN', 'the-admin-token'), 'another case');
  t.notOk(secretsEqual('', ''), 'an empty expected secret never matches');
});
