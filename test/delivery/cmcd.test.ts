import t from 'tap';
import type { Request } from 'express';
import { cmcdOf } from '../../src/delivery/cmcd.js';

const request = (query: Record<string, unknown>, headers: Record<string, string> = {}) => ({ query, headers }) as unknown as Request;

t.test('CMCD is read from the query argument or the four headers', async (t) => {
  t.same(cmcdOf(request({ CMCD: 'bl=2100,br=3200,bs,cid="film",mtp=25400,ot=v,sid="abc",su' })), { bitrateKbps: 3200, objectType: 'v', bufferStarved: true, bufferMs: 2100, measuredKbps: 25400 });
  t.same(cmcdOf(request({}, { 'cmcd-object': 'br=800,ot=av', 'cmcd-request': 'bl=900', 'cmcd-session': 'sid="abc"' })), { bitrateKbps: 800, objectType: 'av', bufferStarved: false, bufferMs: 900, measuredKbps: null });
  t.equal(cmcdOf(request({ _HLS_msn: '4' })), null, 'a request without CMCD');
});

t.test('malformed or oversized CMCD is ignored, never an error for the viewer', async (t) => {
  t.equal(cmcdOf(request({ CMCD: 'garbage,,=,"x' })), null);
  t.equal(cmcdOf(request({ CMCD: `br=${'9'.repeat(5000)}` })), null);
  t.equal(cmcdOf(request({ CMCD: ['br=1', 'br=2'] })), null, 'a repeated argument');
});
