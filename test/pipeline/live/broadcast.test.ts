import t from 'tap';
import { measuredFrameRate } from '../../../src/pipeline/live/broadcast.js';

t.test('a live video frame rate is measured from complete segments and snapped to the common rate it is', async (t) => {
  t.same(measuredFrameRate([{ samples: 60, duration: 180_000 }], 90_000), { num: 30, den: 1 }, '60 frames in 2 s');
  t.same(measuredFrameRate([{ samples: 60, duration: 180_180 }], 90_000), { num: 30000, den: 1001 }, 'NTSC 29.97');
  t.same(measuredFrameRate([{ samples: 50, duration: 30_720 }, { samples: 50, duration: 30_720 }], 15_360), { num: 25, den: 1 }, 'in another timescale');
  t.same(measuredFrameRate([{ samples: 27, duration: 90_000 }], 90_000), { num: 27000, den: 1000 }, 'an uncommon rate stays as measured');
  t.equal(measuredFrameRate([], 90_000), null, 'nothing to measure before a segment completes');
});
