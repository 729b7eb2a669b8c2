import t from 'tap';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { publicStreamState, streamMachine, type ArchiveInput, type FinishInput, type KeyInput, type ResetKeyParams } from '../../src/actors/stream.machine.js';

const stallTimeoutMs = 8_000;

/** The machine on a simulated clock, its side effects recorded in order. */
function provided(record: { finished: FinishInput[]; archived: ArchiveInput[]; keys: KeyInput[]; disconnects: number[]; resets: ResetKeyParams[] }, clock: SimulatedClock) {
  return streamMachine.provide({
    actors: {
      prepareKey: fromPromise<void, KeyInput>(async ({ input }) => void record.keys.push(input)),
      finishBroadcast: fromPromise<void, FinishInput>(async ({ input }) => void record.finished.push(input)),
      archiveBroadcast: fromPromise<string | null, ArchiveInput>(async ({ input }) => (record.archived.push(input), `archive-${input.broadcast}`)),
    },
    actions: {
      disconnectPublisher: () => void record.disconnects.push(clock.now()),
      replaceStreamKey: (_, params: ResetKeyParams) => void record.resets.push(params),
    },
    delays: { stallTimeout: stallTimeoutMs },
  });
}

function start(reconnectWindowMs = 10_000) {
  const clock = new SimulatedClock();
  const record = { finished: [] as FinishInput[], archived: [] as ArchiveInput[], keys: [] as KeyInput[], disconnects: [] as number[], resets: [] as ResetKeyParams[] };
  const machine = provided(record, clock);
  const input = { streamId: 's1', reconnectWindowMs, archive: true };
  const actor = createActor(machine, { input, clock }).start();
  const state = () => publicStreamState(actor.getSnapshot().value);
  const settled = () => new Promise((resolve) => setImmediate(resolve)); // lets the children's promises resolve
  const { finished } = record;
  return { actor, clock, record, finished, state, settled, machine, input };
}

t.test('a publisher returning within the reconnect window continues the same broadcast', async (t) => {
  const { actor, clock, finished, state } = start(10_000);
  actor.send({ type: 'PUBLISH_STARTED' });
  t.equal(state(), 'starting');
  actor.send({ type: 'MEDIA_READY' });
  t.equal(state(), 'live');
  actor.send({ type: 'PUBLISHER_GONE' });
  t.equal(state(), 'reconnecting');
  clock.increment(9_999);
  t.equal(state(), 'reconnecting', 'one millisecond before the window closes it still waits');
  actor.send({ type: 'PUBLISH_STARTED' });
  t.equal(state(), 'live', 'the returning publisher is live again');
  t.equal(actor.getSnapshot().context.broadcast, 1, 'in the same broadcast');
  clock.increment(60_000);
  t.equal(state(), 'live', 'the earlier window no longer runs');
  t.same(finished, [], 'nothing was finished');
});

t.test('past the window the broadcast ends, and is finished and archived exactly once', async (t) => {
  const { actor, clock, record, state, settled } = start(5_000);
  actor.send({ type: 'PUBLISH_STARTED' });
  actor.send({ type: 'MEDIA_READY' });
  actor.send({ type: 'PUBLISHER_GONE' });
  clock.increment(5_000);
  t.equal(state(), 'ended');
  await settled();
  await settled();
  clock.increment(60_000);
  await settled();
  t.same(record.finished, [{ streamId: 's1', broadcast: 1 }], 'finished once');
  t.same(record.archived, [{ streamId: 's1', broadcast: 1 }], 'archived once, after finishing');
  t.same(actor.getSnapshot().context.archiveTitleIds, ['archive-1']);
  actor.send({ type: 'PUBLISH_STARTED' });
  t.equal(actor.getSnapshot().context.broadcast, 2, 'the next publisher starts the next broadcast');
});

t.test('a restart mid-broadcast finishes what was recorded and leaves the stream ready for the next publisher', async (t) => {
  for (const before of ['starting', 'live', 'reconnecting'] as const) {
    const { actor, finished, state, settled } = start();
    actor.send({ type: 'PUBLISH_STARTED' });
    if (before !== 'starting') actor.send({ type: 'MEDIA_READY' });
    if (before === 'reconnecting') actor.send({ type: 'PUBLISHER_GONE' });
    t.equal(state(), before);
    // What the registry does for a restored stream found mid-broadcast.
    const again = { finished, archived: [] as ArchiveInput[], keys: [] as KeyInput[], disconnects: [] as number[], resets: [] as ResetKeyParams[] };
    const restored = createActor(provided(again, new SimulatedClock()), { snapshot: actor.getPersistedSnapshot(), input: { streamId: 's1', reconnectWindowMs: 10_000, archive: true } }).start();
    restored.send({ type: 'SERVER_RESTARTED' });
    await settled();
    await settled();
    t.equal(publicStreamState(restored.getSnapshot().value), 'idle', `from ${before}: idle again`);
    t.equal(finished.length, 1, `from ${before}: finished once`);
    t.equal(again.archived.length, 1, `from ${before}: archived once`);
    actor.stop();
  }
});

t.test('the stall watchdog cuts a publisher that sends nothing for the stall timeout, and only then', async (t) => {
  const { actor, clock, record, state } = start();
  actor.send({ type: 'PUBLISH_STARTED' });
  clock.increment(stallTimeoutMs - 1);
  t.same(record.disconnects, [], 'starting: not yet');
  actor.send({ type: 'MEDIA_FLOWING' });
  clock.increment(stallTimeoutMs - 1);
  t.same(record.disconnects, [], 'media that flows restarts the watch');
  actor.send({ type: 'MEDIA_READY' });
  t.equal(state(), 'live');
  for (let i = 0; i < 20; i++) {
    clock.increment(1_000);
    actor.send({ type: 'MEDIA_FLOWING' });
  }
  t.same(record.disconnects, [], 'a publisher that keeps sending is never cut');
  const silentFrom = clock.now();
  clock.increment(stallTimeoutMs);
  t.same(record.disconnects, [silentFrom + stallTimeoutMs], 'silent for the timeout: cut once, at that instant');
  actor.send({ type: 'PUBLISHER_GONE' });
  clock.increment(stallTimeoutMs * 3);
  t.equal(record.disconnects.length, 1, 'with no publisher there is nothing to watch');
});

t.test('keys are prepared ahead: the next broadcast\'s first while waiting, and each period\'s successor as it begins', async (t) => {
  const { actor, record, settled } = start(1_000);
  t.same(record.keys, [{ streamId: 's1', broadcast: 1, period: 0 }], 'idle: the first key of broadcast 1');
  actor.send({ type: 'PUBLISH_STARTED' });
  t.same(record.keys.at(-1), { streamId: 's1', broadcast: 2, period: 0 }, 'a broadcast begins: the first key of the one after it');
  actor.send({ type: 'KEY_PERIOD_STARTED', period: 0 }); // before the stream is offered
  actor.send({ type: 'MEDIA_READY' });
  actor.send({ type: 'KEY_PERIOD_STARTED', period: 1 });
  await settled();
  t.same(record.keys.slice(2), [
    { streamId: 's1', broadcast: 1, period: 1 },
    { streamId: 's1', broadcast: 1, period: 2 },
  ], 'live: the key after each period that begins, in the same broadcast');
  actor.send({ type: 'KEY_NEEDED' });
  t.equal(record.keys.length, 4, 'a live broadcast is not asked for a first key again');
  actor.send({ type: 'PUBLISHER_GONE' });
  actor.send({ type: 'SERVER_RESTARTED' });
  await settled();
  await settled();
  t.same(record.keys.at(-1), { streamId: 's1', broadcast: 2, period: 0 }, 'after the broadcast: the first key of the next one');
  actor.send({ type: 'KEY_NEEDED' });
  t.same(record.keys.at(-1), { streamId: 's1', broadcast: 2, period: 0 }, 'a publisher that found it missing has it asked for again');
  t.equal(record.keys.filter((k) => k.broadcast === 2).length, 3);
});

t.test('a key reset reaches the actor as an event in every state, and changes nothing else', async (t) => {
  const { actor, record, state } = start();
  actor.send({ type: 'RESET_KEY', streamKey: 'k1' });
  actor.send({ type: 'PUBLISH_STARTED' });
  actor.send({ type: 'MEDIA_READY' });
  actor.send({ type: 'RESET_KEY', streamKey: 'k2', srtPassphrase: 'a-new-passphrase' });
  t.equal(state(), 'live', 'still live: cutting the publisher is what ends its session');
  t.same(record.resets, [{ streamKey: 'k1', srtPassphrase: undefined }, { streamKey: 'k2', srtPassphrase: 'a-new-passphrase' }]);
  t.notOk(JSON.stringify(actor.getPersistedSnapshot()).includes('k2'), 'the key is not kept in the persisted snapshot');
});
