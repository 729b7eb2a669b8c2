import t from 'tap';
import { BitrateMeter } from '../../src/operator/bitrate.js';

t.test('the bitrate is over the time since the previous reading, none at the first, and streams off air are forgotten', async (t) => {
  const meter = new BitrateMeter();
  t.same([...meter.read([{ streamId: 'a', bytesIn: 1000 }], 1000)], [['a', null]], 'nothing to compare at the first reading');
  t.same([...meter.read([{ streamId: 'a', bytesIn: 126_000 }, { streamId: 'b', bytesIn: 5 }], 2000)], [['a', 1_000_000], ['b', null]], '125 000 bytes in 1 s: 1 Mbit/s');
  t.same([...meter.read([{ streamId: 'a', bytesIn: 10 }], 3000)], [['a', null]], 'a count that went back (a new broadcast) gives no rate');
  t.same([...meter.read([{ streamId: 'b', bytesIn: 1005 }], 4000)], [['b', null]], 'b was off air at the last reading, so it starts again');
});
