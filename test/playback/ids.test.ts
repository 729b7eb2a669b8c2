import t from 'tap';
import { timeOrderedId } from '../../src/playback/ids.js';

const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('a session id is a version 7 UUID with the RFC 9562 variant', async (t) => {
  const bad = Array.from({ length: 1000 }, (_, i) => timeOrderedId(1_764_680_000_123 + i)).filter((id) => !v7.test(id));
  t.same(bad, []);
});

t.test('a session id carries the given millisecond time in its first 48 bits', async (t) => {
  const now = Date.UTC(2026, 11, 2, 13, 0, 0, 456);
  const id = timeOrderedId(now);
  t.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now);
});

t.test('session ids sort by the time they were taken', async (t) => {
  const times = [5, 1, 4_000_000_000_000, 3, 1_764_680_000_000];
  const sorted = times.map((time) => ({ time, id: timeOrderedId(time) })).sort((a, b) => (a.id < b.id ? -1 : 1));
  t.same(sorted.map(({ time }) => time), [1, 3, 5, 1_764_680_000_000, 4_000_000_000_000]);
});

t.test('session ids taken in the same millisecond differ', async (t) => {
  t.equal(new Set(Array.from({ length: 10_000 }, () => timeOrderedId(1_764_680_000_000))).size, 10_000);
});
