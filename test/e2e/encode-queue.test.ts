import t from 'tap';
import { readFile } from 'node:fs/promises';
import type { TitleProgressView } from '../../src/catalog/titles.js';
import { makeSource } from '../helpers/media.js';
import { startTestServer } from '../helpers/server.js';

t.test('with one encode slot a second title waits its turn, and the metrics show it waiting', async (t) => {
  const server = await startTestServer({ encode: { preset: 'ultrafast', retryBaseMs: 50, concurrency: 1 } });
  t.teardown(() => server.stop());
  const seen: { id: string; state: string; progress: number }[] = [];
  server.titleEvents.on('change', (id: string, view: TitleProgressView | null) => {
    if (view) seen.push({ id, state: view.state, progress: view.progress });
  });
  const create = async (name: string, source: string) => {
    const { id } = (await (await server.api('/v1/titles', { method: 'POST', json: { title: name } })).json()) as { id: string };
    t.equal((await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: await readFile(source) })).status, 202);
    return id;
  };
  const first = await create('First in line', makeSource({ width: 640, height: 360, seconds: 12 }));
  await server.waitForTitle(first, (view) => view.state === 'encoding' && view.progress > 0);
  const second = await create('Second in line', makeSource({ width: 320, height: 180, seconds: 2 }));
  await server.waitForTitle(second, (view) => view.state === 'encoding');
  const metrics = await (await server.api('/metrics')).text();
  t.equal(seen.filter((e) => e.id === first).at(-1)!.state, 'encoding', 'the first is still encoding when the second is ready to');
  t.match(metrics, /\nweir_encode_queue_length 1\n/, 'one encode waits');
  t.match(metrics, /\nweir_encodes_running 1\n/, 'one runs');
  await server.waitForTitle(first, (view) => view.state === 'ready');
  await server.waitForTitle(second, (view) => view.state === 'ready');
  const firstDone = seen.findLastIndex((e) => e.id === first && e.state === 'encoding') + 1;
  const secondProgress = seen.findIndex((e) => e.id === second && e.state === 'encoding' && e.progress > 0);
  t.ok(firstDone >= 0 && secondProgress > firstDone, `the second encode made progress only after the first finished encoding (${firstDone} < ${secondProgress})`);
  t.match(await (await server.api('/metrics')).text(), /\nweir_encode_queue_length 0\n/);
});
