import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, logSecrets, SecretScrubber } from '../src/logger.js';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { sink, text: () => lines.join('') };
}

t.test('known secrets are removed from every line by value, in any letter case and any field', async (t) => {
  const { sink, text } = capture();
  const log = createLogger('debug', sink);
  const streamKey = 'Ab3dEfGhIjKlMnOpQrStUv_x';
  const passphrase = 'my "quoted" passphrase\\';
  logSecrets(log).add(streamKey);
  logSecrets(log).add(passphrase);
  const child = log.child({ component: 'third-party' });
  child.warn(`RTMP session 1 push /live/${streamKey} error, already has a publisher`);
  child.info({ url: `rtmp://host/live/${streamKey.toUpperCase()}?x=1`, note: `key=${streamKey.toLowerCase()}` }, 'publish');
  log.info({ detail: `the passphrase was ${passphrase}` }, 'srt');
  const out = text();
  t.notOk(out.toLowerCase().includes(streamKey.toLowerCase()), 'the stream key is gone in all its forms');
  t.notOk(out.includes('quoted'), 'the passphrase is gone, JSON escaping and all');
  t.equal(out.match(/\[redacted\]/g)?.length, 4);
});

t.test('playback tokens are removed wherever they appear, registered or not', async (t) => {
  const scrubber = new SecretScrubber();
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJzIiwic3ViIjoiYSJ9.c2lnbmF0dXJlLXBhcnQtaGVyZQ';
  t.equal(scrubber.scrub(`GET /MEDIA/abc/${jwt}/master.m3u8`), 'GET /MEDIA/abc/[token]/master.m3u8');
  t.equal(scrubber.scrub(`/media/abc/not-a-jwt-but-still-the-token/x`), '/media/abc/[token]/x', 'the token segment of a media path, whatever it holds');
  t.equal(scrubber.scrub(`?token=${jwt}&a=1`), '?token=[token]&a=1');
  const playback = '0192d4e5-7b1a-7c3d-9e8f-0a1b2c3d4e5f.Ab_9-xYzAb_9-xYzAb_9-x';
  t.equal(scrubber.scrub(`{"msg":"x","url":"/v1/other?t=${playback.toUpperCase()}"}`), '{"msg":"x","url":"/v1/other?t=[token]"}', 'a playback token anywhere, in any case');
  t.equal(scrubber.scrub('session 0192d4e5-7b1a-7c3d-9e8f-0a1b2c3d4e5f ended'), 'session 0192d4e5-7b1a-7c3d-9e8f-0a1b2c3d4e5f ended', 'a session id alone is no secret');
  t.equal(scrubber.scrub('an ordinary line with /v1/titles/1234 and words'), 'an ordinary line with /v1/titles/1234 and words', 'ordinary text stays');
});

t.test('webhook signing secrets are removed wherever they appear, in any letter case', async (t) => {
  const scrubber = new SecretScrubber();
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+a/b=';
  t.equal(scrubber.scrub(`{"body":"{\\"secret\\":\\"${secret}\\"}"}`), '{"body":"{\\"secret\\":\\"[redacted]\\"}"}');
  t.equal(scrubber.scrub(`rotated to ${secret.toUpperCase()}.`), 'rotated to [redacted].');
});
