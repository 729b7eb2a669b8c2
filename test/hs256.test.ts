import { createHmac } from 'node:crypto';
import t from 'tap';
import { hs256Tokens } from '../src/hs256.js';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const forge = (header: object, payload: object, secret: string) => {
  const signed = `${b64(header)}.${b64(payload)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
};

t.test('a token signed for one kind verifies as that kind, with its claims', async (t) => {
  const viewer = hs256Tokens('one secret', { issuer: 'weir', audience: 'weir-viewer' });
  const token = viewer.sign({ sub: 'v1', did: 'tv', exp: 2_000_000_000 });
  t.match(viewer.verify(token), { sub: 'v1', did: 'tv', iss: 'weir', aud: 'weir-viewer', exp: 2_000_000_000 });
});

t.test('tokens of another kind, another secret, another algorithm or altered are refused', async (t) => {
  const viewer = hs256Tokens('one secret', { issuer: 'weir', audience: 'weir-viewer' });
  const playback = hs256Tokens('one secret', { issuer: 'weir', audience: 'weir-playback' });
  t.throws(() => viewer.verify(playback.sign({ sub: 'title' })), { code: /^FAST_JWT_/ }, 'a playback token is not a viewer token');
  t.throws(() => viewer.verify(hs256Tokens('another secret', { issuer: 'weir', audience: 'weir-viewer' }).sign({ sub: 'v1' })), { code: /^FAST_JWT_/ }, 'another secret');
  t.throws(() => viewer.verify(`${b64({ alg: 'none' })}.${b64({ iss: 'weir', aud: 'weir-viewer', sub: 'v1' })}.`), { code: /^FAST_JWT_/ }, 'unsigned');
  t.throws(() => viewer.verify(forge({ alg: 'HS384' }, { iss: 'weir', aud: 'weir-viewer', sub: 'v1' }, 'one secret')), { code: /^FAST_JWT_/ }, 'another algorithm');
  const [header, , signature] = viewer.sign({ sub: 'v1' }).split('.');
  t.throws(() => viewer.verify(`${header}.${b64({ iss: 'weir', aud: 'weir-viewer', sub: 'admin' })}.${signature}`), { code: /^FAST_JWT_/ }, 'a payload swapped under a signature');
  t.throws(() => viewer.verify('not a token'), { code: /^FAST_JWT_/ }, 'garbage');
  t.ok(viewer.verify(forge({ alg: 'HS256' }, { iss: 'weir', aud: 'weir-viewer', sub: 'v1' }, 'one secret')), 'while a well-formed token by the same secret passes');
});
