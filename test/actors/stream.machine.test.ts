import t from 'tap';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { publicStreamState, streamMachine, type FinishInput } from '../../src/actors/stream.machine.js';

/** The machine on a simulated clock, with a finishing step that records each call. */
function start(reconnectWindowMs = 10_000) {
  const clock = new SimulatedClock();
  const finished: FinishInput[] = [];
  const machine = streamMachine.provide({
    actors: {
      finishBroadcast: fromPromise<string | null, FinishInput>(async ({ input }) => {
        finished.push(input);
        return input.archive ? `archive-${input.broadcast}` : null;
      }),
    },
  });
  const actor = createActor(machine, { input: { streamId: 's1', reconnectWindowMs, archive: true }, clock }).start();
  const state = () => publicStreamState(actor.getSnapshot().value);
  const settled = () => new Promise((resolve) => setImmediate(resolve)); // lets the finishing promise resolve
  return { actor, clock, finished, state, settled };
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

t.test('past the window the broadcast ends and is finished (and archived) exactly once', async (t) => {
  const { actor, clock, finished, state, settled } = start(5_000);
  actor.send({ type: 'PUBLISH_STARTED' });
  actor.send({ type: 'MEDIA_READY' });
  actor.send({ type: 'PUBLISHER_GONE' });
  clock.increment(5_000);
  t.equal(state(), 'ended');
  await settled();
  clock.increment(60_000);
  await settled();
  t.same(finished, [{ streamId: 's1', broadcast: 1, archive: true }], 'finished once');
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
    const restored = createActor(streamMachine.provide({ actors: { finishBroadcast: fromPromise<string | null, FinishInput>(async ({ input }) => (finished.push(input), 'archive-restored')) } }), {
      snapshot: actor.getPersistedSnapshot(),
      input: { streamId: 's1', reconnectWindowMs: 10_000, archive: true },
    }).start();
    restored.send({ type: 'SERVER_RESTARTED' });
    await settled();
    t.equal(publicStreamState(restored.getSnapshot().value), 'idle', `from ${before}: idle again`);
    t.equal(finished.length, 1, `from ${before}: finished once`);
    actor.stop();
  }
});
