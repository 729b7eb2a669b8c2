import t from 'tap';
import { EncodeSlots } from '../../src/actors/encode-slots.js';

t.test('encodes beyond the limit wait in arrival order and start as slots are given back', async (t) => {
  const slots = new EncodeSlots(2);
  const first = await slots.acquire(new AbortController().signal);
  const second = await slots.acquire(new AbortController().signal);
  t.ok(slots.full);
  const started: string[] = [];
  const third = slots.acquire(new AbortController().signal).then((release) => (started.push('third'), release));
  const fourth = slots.acquire(new AbortController().signal).then((release) => (started.push('fourth'), release));
  t.equal(slots.queued, 2);
  first();
  first(); // giving a slot back twice frees it once
  const releaseThird = await third;
  t.same(started, ['third']);
  t.equal(slots.active, 2);
  t.equal(slots.queued, 1);
  second();
  (await fourth)();
  releaseThird();
  t.same(started, ['third', 'fourth']);
  t.equal(slots.active, 0);
  t.notOk(slots.full);
});

t.test('a waiting encode that is aborted leaves the queue without taking a slot', async (t) => {
  const slots = new EncodeSlots(1);
  const held = await slots.acquire(new AbortController().signal);
  const controller = new AbortController();
  const waiting = slots.acquire(controller.signal);
  const after = slots.acquire(new AbortController().signal);
  controller.abort(new Error('title deleted'));
  await t.rejects(waiting, /title deleted/);
  t.equal(slots.queued, 1);
  held();
  const release = await after;
  t.equal(slots.active, 1, 'the slot went to the next in line');
  release();
  await t.rejects(slots.acquire(AbortSignal.abort(new Error('gone'))), /gone/, 'an aborted signal gets no slot');
  t.throws(() => new EncodeSlots(0), RangeError);
});
