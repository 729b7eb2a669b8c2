import t from 'tap';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type TestServer } from '../../helpers/server.js';

type Document = { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; 'x-websocket'?: boolean; parameters?: { name: string; in: string }[] }>> };

let server: TestServer;
let document: Document;
t.before(async () => {
  server = await startTestServer();
  const answer = await fetch(`${server.url}/openapi.json`);
  document = (await answer.json()) as Document;
});
t.teardown(() => server?.stop());

/** An Express pattern in OpenAPI form: /v1/titles/:id → /v1/titles/{id}; a wildcard *file → {file}. */
const openApiPath = (express: string) => express.replace(/:(\w+)/g, '{$1}').replace(/\*(\w+)/g, '{$1}').replace(/\/$/, '') || '/';

t.test('the document is OpenAPI 3.1 that a maintained validator accepts', async (t) => {
  t.equal(document.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(document as unknown as Parameters<Validator["validate"]>[0]);
  t.same(result.errors ?? [], [], 'no validation errors');
  t.ok(result.valid);
  t.equal(validator.version, '3.1');
  const broken = structuredClone(document) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  broken.paths['/v1/titles']!.get!.parameters = [{ name: 'limit' }]; // a parameter must say where it goes
  t.notOk((await new Validator().validate(broken as unknown as Parameters<Validator["validate"]>[0])).valid, 'and refuses a document with a parameter that lacks "in"');
});

t.test('every route the app registers is in the document, and every documented operation is a route', async (t) => {
  const documented = new Set(Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).filter(([, op]) => !op['x-websocket']).map(([method]) => `${method} ${path}`)));
  const registered = new Set<string>();
  for (const { method, path } of server.routes) {
    const key = openApiPath(path);
    if (method === 'all') {
      // tus takes several methods on one route: the document must name at least one.
      const any = [...documented].some((entry) => entry.endsWith(` ${key}`));
      t.ok(any, `${path} (any method) is documented`);
      for (const entry of documented) if (entry.endsWith(` ${key}`)) registered.add(entry);
      continue;
    }
    if (method === 'head' && documented.has(`get ${key}`)) continue; // Express answers HEAD for GET routes
    registered.add(`${method} ${key}`);
  }
  const missing = [...registered].filter((entry) => !documented.has(entry));
  const extra = [...documented].filter((entry) => !registered.has(entry));
  t.same(missing, [], 'no route is left out of the document');
  t.same(extra, [], 'no documented operation lacks a route');
  t.ok(registered.size > 60, `${registered.size} operations`);
  const socket = document.paths['/v1/events']?.get;
  t.ok(socket?.['x-websocket'], 'the event WebSocket is documented, marked as such');
});

t.test('each operation documents its errors, with the codes a client can switch on', async (t) => {
  const titles = document.paths['/v1/titles/{id}']!.get!;
  t.match(titles.responses['401'], { content: { 'application/json': { schema: { properties: { error: { properties: { code: { enum: ['ADMIN_AUTH_REQUIRED'] } } } } } } } });
  t.match(titles.responses['404'], { description: /TITLE_NOT_FOUND/ });
  const session = document.paths['/v1/playback-sessions']!.post!;
  for (const status of ['201', '400', '403', '409', '429', '451']) t.ok(session.responses[status], `session start documents ${status}`);
  t.same(document.paths['/v1/titles']!.get!.parameters!.map((p) => `${p.in}:${p.name}`), ['query:limit', 'query:offset'], 'query parameters from the schema that validates them');
});
