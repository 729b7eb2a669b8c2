import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCli } from '../src/config.js';

const start = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const request = resolveCli(argv, env);
  if (request.kind !== 'start') throw new Error(`expected a start request, got ${request.kind}`);
  return request.config;
};

t.test('defaults give port 8080, data in ./data and 4 s segments', async (t) => {
  const config = start([]);
  t.equal(config.http.port, 8080);
  t.equal(config.dataDir, './data');
  t.equal(config.packaging.segmentSeconds, 4);
  t.equal(config.rtmp.port, 1935);
});

t.test('a config file overrides defaults, the environment overrides the file, flags override both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-config-'));
  const file = join(dir, 'weir.json');
  writeFileSync(file, JSON.stringify({ http: { port: 9000 }, dataDir: '/from/file', packaging: { segmentSeconds: 6 } }));
  const fromFile = start(['--config', file]);
  t.match(fromFile, { http: { port: 9000, host: '0.0.0.0' }, dataDir: '/from/file', packaging: { segmentSeconds: 6 } });
  const fromEnv = start(['--config', file], { WEIR_HTTP_PORT: '9100', WEIR_DATA_DIR: '/from/env' });
  t.match(fromEnv, { http: { port: 9100 }, dataDir: '/from/env', packaging: { segmentSeconds: 6 } });
  const fromFlags = start(['--config', file, '--http-port', '0', '--rtmp-port', '0'], { WEIR_HTTP_PORT: '9100' });
  t.match(fromFlags, { http: { port: 0 }, rtmp: { port: 0 }, dataDir: '/from/file' });
});

t.test('invalid configuration stops with the key, the source, what was expected and what was received', async (t) => {
  t.throws(() => start(['--http-port', 'eighty']), /http\.port \(from --http-port\) expected an integer, received "eighty"/);
  t.throws(() => start([], { WEIR_HTTP_PORT: '70000' }), /http\.port \(from WEIR_HTTP_PORT\): Too big: expected number to be <=65535, received 70000/);
  t.throws(() => start(['--log-level', 'loud']), /log\.level \(from --log-level\): Invalid option: expected one of .*received "loud"/);
  const dir = mkdtempSync(join(tmpdir(), 'weir-config-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ http: { prot: 1 } }));
  t.throws(() => start(['--config', file]), /unknown key http\.prot/);
  writeFileSync(file, '{ not json');
  t.throws(() => start(['--config', file]), /is not valid JSON/);
  t.throws(() => start(['--config', join(dir, 'missing.json')]), /cannot be read/);
  t.throws(() => start(['--no-such-flag']), /Unknown option '--no-such-flag'/);
});

t.test('--help and --version are answered without starting', async (t) => {
  t.same(resolveCli(['--help'], {}), { kind: 'help' });
  t.same(resolveCli(['--version'], {}), { kind: 'version' });
});
