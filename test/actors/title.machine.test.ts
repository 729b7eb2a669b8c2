import t from 'tap';
import { createActor, fromCallback, fromPromise, waitFor, type EventObject } from 'xstate';
import { titleMachine, type StageInput, type TitleEvent } from '../../src/actors/title.machine.js';
import type { PublishedRendition } from '../../src/catalog/titles.js';
import type { SourceFacts } from '../../src/pipeline/encode/probe.js';

const facts: SourceFacts = {
  sizeBytes: 1000,
  container: 'mp4',
  durationMs: 4000,
  video: { codec: 'h264', width: 1280, height: 720, rotation: 0, frameRate: { num: 30, den: 1 } },
  audio: null,
};

/** A machine whose encode stage answers each attempt from a script of outcomes. */
function machineWith(outcomes: ('ok' | 'transient' | 'invalid')[]) {
  let attempt = 0;
  const attempts: number[] = [];
  const machine = titleMachine.provide({
    actors: {
      probe: fromPromise<SourceFacts, { titleId: string; sourcePath: string }>(async () => facts),
      encode: fromCallback<EventObject, StageInput>(({ sendBack }) => {
        const outcome = outcomes[attempt++] ?? 'ok';
        attempts.push(Date.now());
        const send = (event: TitleEvent) => sendBack(event);
        queueMicrotask(() => {
          if (outcome === 'ok') send({ type: 'ENCODED' });
          else send({ type: 'ENCODE_FAILED', transient: outcome === 'transient', error: { code: outcome === 'invalid' ? 'SOURCE_UNREADABLE' : 'ENCODE_FAILED', message: outcome } });
        });
      }),
      package: fromPromise<PublishedRendition[], StageInput>(async () => []),
      key: fromPromise(async () => {}),
      publish: fromPromise(async () => {}),
    },
  });
  return { machine, attempts };
}

const input = { titleId: 't1', protection: 'none' as const, maxEncodeAttempts: 3, retryBaseMs: 20 };

t.test('transient encode failures are retried with growing backoff until one succeeds', async (t) => {
  const { machine, attempts } = machineWith(['transient', 'transient', 'ok']);
  const actor = createActor(machine, { input }).start();
  actor.send({ type: 'SOURCE_UPLOADED', path: '/src' });
  const done = await waitFor(actor, (s) => s.matches('ready') || s.matches('failed'), { timeout: 5_000 });
  t.equal(done.value, 'ready');
  t.equal(done.context.encodeAttempts, 3);
  t.equal(attempts.length, 3);
  t.ok(attempts[1]! - attempts[0]! >= 20, 'the first retry waits the base delay');
  t.ok(attempts[2]! - attempts[1]! >= 40, 'the second waits twice as long');
});

t.test('retries stop at the configured limit and the title fails with the last error', async (t) => {
  const { machine } = machineWith(['transient', 'transient', 'transient', 'ok']);
  const actor = createActor(machine, { input }).start();
  actor.send({ type: 'SOURCE_UPLOADED', path: '/src' });
  const done = await waitFor(actor, (s) => s.matches('ready') || s.matches('failed'), { timeout: 5_000 });
  t.equal(done.value, 'failed');
  t.same(done.context.error, { code: 'ENCODE_FAILED', message: 'transient' });
  t.equal(done.context.encodeAttempts, 3);
});

t.test('invalid input fails at once, without retries', async (t) => {
  const { machine, attempts } = machineWith(['invalid', 'ok']);
  const actor = createActor(machine, { input }).start();
  actor.send({ type: 'SOURCE_UPLOADED', path: '/src' });
  const done = await waitFor(actor, (s) => s.matches('ready') || s.matches('failed'), { timeout: 5_000 });
  t.equal(done.value, 'failed');
  t.equal(done.context.error?.code, 'SOURCE_UNREADABLE');
  t.equal(attempts.length, 1);
});

t.test('a backoff wait survives a restore from its persisted snapshot', async (t) => {
  const { machine, attempts } = machineWith(['transient', 'ok']);
  const actor = createActor(machine, { input: { ...input, retryBaseMs: 100 } }).start();
  actor.send({ type: 'SOURCE_UPLOADED', path: '/src' });
  const waiting = await waitFor(actor, (s) => s.matches('encode_backoff'));
  const persisted = actor.getPersistedSnapshot();
  actor.stop();
  t.ok(waiting.context.retryAt! > Date.now() - 100, 'the deadline is stored in context');
  const restored = createActor(machine, { snapshot: persisted, input }).start();
  const done = await waitFor(restored, (s) => s.matches('ready') || s.matches('failed'), { timeout: 5_000 });
  t.equal(done.value, 'ready');
  t.ok(attempts[1]! >= waiting.context.retryAt!, 'the restored actor waited out the stored deadline');
});
