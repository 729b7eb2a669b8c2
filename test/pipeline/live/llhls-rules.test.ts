import t from 'tap';
import {
  blockingWaitSeconds,
  canSkipUntil,
  hintedPart,
  judgeBlockingRequest,
  judgePartRequest,
  partHoldBack,
  reached,
  type LiveWindow,
} from '../../../src/pipeline/live/llhls-rules.js';

/** A window from a compact spec: each entry is [msn, parts, complete]. */
const window = (...segments: [number, number, boolean][]): LiveWindow => ({
  segments: segments.map(([msn, parts, complete]) => ({ msn, parts: Array.from({ length: parts }, (_, index) => ({ index })), complete })),
});

// Segments 10 and 11 complete (5 parts each), 12 open with 2 parts: the edge is 12.1, the hint 12.2.
const live = window([10, 5, true], [11, 5, true], [12, 2, false]);
// The same with 12 just completed: the hint moves to 13.0.
const closed = window([10, 5, true], [11, 5, true], [12, 5, true]);

t.test('server-control values follow RFC 8216bis §4.4.3.8', async (t) => {
  t.ok(Math.abs(partHoldBack(0.2) - 0.6) < 1e-9, 'PART-HOLD-BACK: three part targets (at least two is a MUST)');
  t.equal(canSkipUntil(2), 12, 'CAN-SKIP-UNTIL: six target durations');
  t.equal(blockingWaitSeconds(2), 6, 'a blocked request waits at most three target durations (§6.2.5.2)');
});

t.test('whether a blocking request can be answered now (§6.2.5.2), from a table', async (t) => {
  const cases: [string, LiveWindow, number, number | null, boolean][] = [
    ['a complete segment', live, 11, null, true],
    ['the open segment, without a part', live, 12, null, false],
    ['a published part of the open segment', live, 12, 1, true],
    ['the hinted part', live, 12, 2, false],
    ['an index past a finished segment means part 0 of the next, not yet there', closed, 12, 5, false],
    ['an older segment that is still listed', live, 10, 4, true],
    ['a segment before the window: later segments exist', live, 3, null, true],
    ['an empty window', window(), 0, 0, false],
  ];
  for (const [what, w, msn, part, expected] of cases) t.equal(reached(w, { msn, part }), expected, what);
});

t.test('blocking requests too far ahead are refused with the reason, others answered or held', async (t) => {
  const cases: [string, number, number | null, string][] = [
    ['the next segment after the open one is within "last plus two"', 13, null, 'wait'],
    ['_HLS_msn more than two past the last complete segment', 14, null, 'refuse'],
    ['three parts past the edge is the Advance Part Limit', 12, 4, 'wait'],
    ['four parts past the edge is beyond it', 12, 5, 'refuse'],
    ['a part that exists', 12, 0, 'answer'],
  ];
  for (const [what, msn, part, kind] of cases) {
    const verdict = judgeBlockingRequest(live, { msn, part });
    t.equal(verdict.kind, kind, what);
    if (verdict.kind === 'refuse') t.match(verdict.reason, /_HLS_(msn|part)=\d+/, 'the refusal names the parameter');
  }
});

t.test('a part request is served, held for the hinted part, or refused as missing (§6.2.6), from a table', async (t) => {
  t.same(hintedPart(live), { msn: 12, part: 2 });
  t.same(hintedPart(closed), { msn: 13, part: 0 });
  const cases: [string, LiveWindow, number, number, boolean, string][] = [
    ['a published part', live, 12, 1, false, 'serve'],
    ['the hinted part', live, 12, 2, false, 'wait'],
    ['one past the hint', live, 12, 3, false, 'wait'],
    ['two past the hint never comes in time', live, 12, 4, false, 'missing'],
    ['the first part of the next segment', closed, 13, 0, false, 'wait'],
    ['two past the hint in the next segment', closed, 13, 2, false, 'missing'],
    ['far ahead', live, 999, 0, false, 'missing'],
    ['the hinted part of an ended broadcast', live, 12, 2, true, 'missing'],
  ];
  for (const [what, w, msn, index, ended, kind] of cases) t.equal(judgePartRequest(w, msn, index, ended).kind, kind, what);
});
