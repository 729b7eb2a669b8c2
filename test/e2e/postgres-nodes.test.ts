import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { freshPostgresSchema, postgresUnavailable } from '../helpers/catalog.js';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

type Session = { id: string; heartbeat: { url: string } };

const unavailable = postgresUnavailable();
if (unavailable) void t.test('several Weir nodes on one PostgreSQL catalog', { skip: unavailable }, () => undefined);
else {
  const schema = freshPostgresSchema();
  // Nodes of one service share their secrets (they open each other's sealed keys and verify each other's tokens).
  const shared = {
    WEIR_MASTER_KEY: randomBytes(32).toString('hex'),
    WEIR_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    WEIR_VIEWER_TOKEN_SECRET: randomBytes(32).toString('base64url'),
  };
  const password = 'a viewer password of some length';
  let nodeA: TestServer;
  let nodeB: TestServer;
  let title: string;

  t.before(async () => {
    nodeA = await startTestServer({ database: { url: schema.url } }, shared);
    nodeB = await startTestServer({ database: { url: schema.url } }, shared);
    const ingested = await nodeA.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Shared');
    if (ingested.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(ingested.view.error)}`);
    title = ingested.id;
  });
  t.teardown(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    schema.drop();
  });

  const signIn = async (node: TestServer, email: string, device: string): Promise<string> => {
    const response = await node.api('/v1/auth/login', { method: 'POST', admin: false, json: { email, password, device: { id: device, family: 'web' } } });
    if (response.status !== 200) throw new Error(`sign-in answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { accessToken: string }).accessToken;
  };
  const startOn = (node: TestServer, token: string) =>
    node.api('/v1/playback-sessions', { method: 'POST', admin: false, headers: { authorization: `Bearer ${token}` }, json: { contentId: title } });

  t.test('two nodes on one PostgreSQL catalog see the same titles and viewers, and a viewer made on one signs in on the other', async (t) => {
    const onB = (await (await nodeB.api(`/v1/titles/${title}`)).json()) as { state: string; title: string };
    t.match(onB, { state: 'ready', title: 'Shared' }, 'node B reads the title node A encoded');
    const created = await nodeA.api('/v1/viewers', { method: 'POST', json: { email: 'shared@example.com', password, planId: 'basic' } });
    t.equal(created.status, 201);
    t.ok(await signIn(nodeB, 'shared@example.com', 'tv'), 'and the viewer made on A signs in on B');
    const taken = await nodeB.api('/v1/viewers', { method: 'POST', json: { email: 'SHARED@example.com', password } });
    t.equal(taken.status, 409, 'the address is taken on every node');
    t.match(await taken.json(), { error: { code: 'EMAIL_TAKEN' } });
  });

  t.test("the concurrent-stream limit holds across nodes: a session on A holds the basic plan's one slot on B until it stops", async (t) => {
    const onA = await signIn(nodeA, 'shared@example.com', 'laptop');
    const onB = await signIn(nodeB, 'shared@example.com', 'tv'); // the basic plan's second device
    const first = await startOn(nodeA, onA);
    t.equal(first.status, 201, 'node A starts the first session');
    const session = (await first.json()) as Session;

    const refused = await startOn(nodeB, onB);
    t.equal(refused.status, 409, 'node B refuses a second one');
    t.match(await refused.json(), { error: { code: 'STREAM_LIMIT_REACHED', details: { sessions: [{ id: session.id }] } } }, "naming node A's session");

    const beat = await fetch(`${nodeB.url}/v1/playback-sessions/${session.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${onA}`, 'content-type': 'application/json' },
      body: JSON.stringify({ position: 1, state: 'playing' }),
    });
    t.ok(beat.ok, `node B renews a session node A started (${beat.status})`);

    const stopped = await nodeB.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${onA}` } });
    t.ok(stopped.ok, `and stops it (${stopped.status})`);
    t.equal((await startOn(nodeA, onB)).status, 201, 'after which the slot is free on A too');
  });

  t.test('what one node changes reaches the other at once: access rules, metadata and plans it holds in memory', async (t) => {
    const token = await signIn(nodeB, 'shared@example.com', 'tv');
    const premium = await nodeA.api(`/v1/titles/${title}/access`, { method: 'PUT', json: { packages: ['premium'] } });
    t.equal(premium.status, 200);
    let refusal: { status: number; code?: string } = { status: 0 };
    await waitUntil(async () => {
      const answer = await startOn(nodeB, token);
      const body = (await answer.json()) as { id?: string; error?: { code: string } };
      refusal = { status: answer.status, code: body.error?.code };
      // Not applied yet: the session started; stop it so the next try is not refused for the stream limit.
      if (answer.status === 201) await nodeB.api(`/v1/playback-sessions/${body.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${token}` } });
      return answer.status === 403;
    }, 'node B applying the access rule node A changed');
    t.same(refusal, { status: 403, code: 'NOT_ENTITLED' }, 'node B refuses a basic viewer the title node A moved to premium');
    t.equal((await nodeA.api(`/v1/titles/${title}/access`, { method: 'PUT', json: { packages: ['free'] } })).status, 200);

    const metadata = await nodeA.api(`/v1/titles/${title}/metadata`, { method: 'PUT', json: { synopsis: 'A harbour at dawn.', genres: ['Drama'] } });
    t.equal(metadata.status, 200);
    await waitUntil(async () => {
      const found = (await (await nodeB.api(`/v1/catalog/search?q=harbour`, { admin: false })).json()) as { items: { id: string }[] };
      return found.items.some((item) => item.id === title);
    }, 'node B finding the synopsis node A wrote');
    t.pass('node B searches the synopsis node A wrote');
  });

  t.test("each title's actor runs on one node: the other refuses to change it, naming the node that runs it", async (t) => {
    const refused = await nodeB.api(`/v1/titles/${title}`, { method: 'DELETE' });
    t.equal(refused.status, 409);
    t.match(await refused.json(), { error: { code: 'OWNED_BY_ANOTHER_NODE', details: { node: /-/ } } });
    t.match((await (await nodeA.api(`/v1/titles/${title}`)).json()) as object, { state: 'ready' }, 'and the title is untouched');
  });

  t.test('a restarted node finds everything in PostgreSQL, and neither node logs the database URL', async (t) => {
    nodeA = await nodeA.restart();
    t.match((await (await nodeA.api(`/v1/titles/${title}`)).json()) as object, { state: 'ready' });
    for (const node of [nodeA, nodeB]) {
      const log = readFileSync(node.logFile, 'utf8');
      t.notOk(log.includes(new URL(schema.url).password && `:${new URL(schema.url).password}@`), 'no credentials in the log');
      t.notOk(log.includes('search_path'), 'nor the URL in any form');
    }
  });
}
