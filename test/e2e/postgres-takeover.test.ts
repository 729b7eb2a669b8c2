import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgresSchema, postgresUnavailable } from '../helpers/catalog.js';
import { spawnWeir } from '../helpers/process.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

t.test("when a node dies, another takes its titles over once the dead node's lease lapses", { skip: postgresUnavailable() ?? false }, async (t) => {
  const schema = freshPostgresSchema();
  const dir = mkdtempSync(join(tmpdir(), 'weir-takeover-'));
  const shared = { WEIR_MASTER_KEY: randomBytes(32).toString('hex'), WEIR_TOKEN_SECRET: 'takeover-token-secret', WEIR_VIEWER_TOKEN_SECRET: 'takeover-viewer-secret', WEIR_ADMIN_TOKEN: 'takeover' };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ database: { nodeLeaseSeconds: 2 } }));
  const nodeA = await spawnWeir(['--data-dir', join(dir, 'a'), '--config', configFile, '--database-url', schema.url], { ...shared, WEIR_LOG_LEVEL: 'info' });
  const nodeB = await startTestServer({ database: { url: schema.url, nodeLeaseSeconds: 2 } }, shared);
  t.teardown(async () => {
    nodeA.child.kill('SIGKILL');
    await nodeA.exited;
    await nodeB.stop();
    schema.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const created = await fetch(`${nodeA.url}/v1/titles`, { method: 'POST', headers: { authorization: 'Bearer takeover', 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Orphaned' }) });
  t.equal(created.status, 201);
  const { id } = (await created.json()) as { id: string };
  const nodeAId = String((await nodeA.waitForLog((line) => line.msg === 'weir is listening')).nodeId);

  const refused = await nodeB.api(`/v1/titles/${id}`, { method: 'DELETE' });
  t.equal(refused.status, 409, 'while node A lives, node B may not change its title');
  t.match(await refused.json(), { error: { code: 'OWNED_BY_ANOTHER_NODE', details: { node: nodeAId } } });

  nodeA.child.kill('SIGKILL');
  await nodeA.exited;
  await waitUntil(() => readFileSync(nodeB.logFile, 'utf8').includes('took over the actors of a node that stopped renewing them'), "node B taking over node A's title", 15_000);
  t.pass('node B took the title over once the lease lapsed');
  t.equal((await nodeB.api(`/v1/titles/${id}`, { method: 'DELETE' })).status, 204, 'and now runs it: the deletion goes through');
  t.equal((await nodeB.api(`/v1/titles/${id}`)).status, 404);
});
