import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { serializeBoxes } from '../../src/pipeline/bmff/write.js';
import { makeSource } from '../helpers/media.js';
import { fetchOk } from '../helpers/playback.js';
import { startTestServer } from '../helpers/server.js';

const widevine = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';

/** A key server as a commercial DRM service runs one: CPIX 2.3 documents in and out. */
async function cpixKeyServer() {
  const issued = new Map<string, Buffer>();
  const requests: { authorization: string | undefined; document: Record<string, unknown> }[] = [];
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const document = (parser.parse(body) as { CPIX: Record<string, unknown> }).CPIX;
      requests.push({ authorization: req.headers.authorization, document });
      if (req.headers.authorization !== 'Bearer cpix-secret') {
        res.writeHead(403).end();
        return;
      }
      const contentKey = (document.ContentKeyList as { ContentKey: Record<string, string> }).ContentKey;
      const kid = contentKey['@kid']!;
      const key = randomBytes(16);
      issued.set(kid.replace(/-/g, ''), key);
      // A Widevine PSSH as such a service would return it (its payload is opaque to Weir).
      const pssh = Buffer.from(serializeBoxes([{ type: 'pssh', version: 0, systemId: Buffer.from(widevine.replace(/-/g, ''), 'hex'), kids: [], data: Buffer.from('widevine-payload') }])).toString('base64');
      res.writeHead(200, { 'content-type': 'application/xml' }).end(
        `<?xml version="1.0" encoding="UTF-8"?><cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" version="2.3">` +
          `<cpix:ContentKeyList><cpix:ContentKey kid="${kid}" commonEncryptionScheme="${contentKey['@commonEncryptionScheme']}"><cpix:Data><pskc:Secret><pskc:PlainValue>${key.toString('base64')}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey></cpix:ContentKeyList>` +
          `<cpix:DRMSystemList><cpix:DRMSystem kid="${kid}" systemId="${widevine}"><cpix:PSSH>${pssh}</cpix:PSSH></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cpix`, issued, requests, close: () => new Promise((r) => server.close(r)) };
}

t.test('a title protected with keys from a CPIX key server uses that key and signals its DRM systems', async (t) => {
  const keyServer = await cpixKeyServer();
  t.teardown(() => keyServer.close());
  const server = await startTestServer({ packaging: { segmentSeconds: 2 }, drm: { cpixUrl: keyServer.url, cpixSystemIds: [widevine] } }, { WEIR_CPIX_AUTHORIZATION: 'Bearer cpix-secret' });
  t.teardown(() => server.stop());
  const { id, view } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'cpix title', { protection: 'cenc' });
  t.equal(view.state, 'ready', JSON.stringify(view.error));

  t.equal(keyServer.requests.length, 1, 'one key was asked for');
  const { authorization, document } = keyServer.requests[0]!;
  t.equal(authorization, 'Bearer cpix-secret', 'the configured authorization is sent');
  t.equal(document['@version'], '2.3');
  t.match(document, { ContentKeyList: { ContentKey: { '@commonEncryptionScheme': 'cenc' } }, DRMSystemList: { DRMSystem: { '@systemId': widevine } }, ContentKeyUsageRuleList: { ContentKeyUsageRule: { '@intendedTrackType': 'ALL' } } });

  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: id } })).json()) as { sources: { url: string; drm: { clearkey: { licenseUrl: string } } }[] };
  const [hls, dash] = session.sources.map((s) => ({ ...s, url: s.url.replace('localhost', '127.0.0.1') }));
  const mpd = await (await fetchOk(dash!.url)).text();
  t.match(mpd, new RegExp(`<ContentProtection schemeIdUri="urn:uuid:${widevine}"><cenc:pssh>[A-Za-z0-9+/=]+</cenc:pssh></ContentProtection>`), 'the Widevine PSSH from the key server is in the MPD');
  const init = Buffer.from(await (await fetchOk(hls!.url.replace('master.m3u8', 'v0/init.mp4'))).arrayBuffer());
  t.ok(init.includes(Buffer.from('widevine-payload')), 'and in the init segment');

  const kid = [...keyServer.issued.keys()][0]!;
  const license = (await (await fetch(hls!.drm.clearkey.licenseUrl.replace('localhost', '127.0.0.1'), { method: 'POST', body: JSON.stringify({ kids: [Buffer.from(kid, 'hex').toString('base64url')] }) })).json()) as { keys: { k: string }[] };
  t.ok(Buffer.from(license.keys[0]!.k, 'base64url').equals(keyServer.issued.get(kid)!), 'the license hands out the key the key server issued');
});

t.test('a key server that refuses leaves the title failed with a reason, not published in the clear', async (t) => {
  const keyServer = await cpixKeyServer();
  t.teardown(() => keyServer.close());
  const server = await startTestServer({ packaging: { segmentSeconds: 2 }, drm: { cpixUrl: keyServer.url, cpixSystemIds: [] } }, { WEIR_CPIX_AUTHORIZATION: 'Bearer wrong' });
  t.teardown(() => server.stop());
  const { view } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'refused', { protection: 'cbcs' });
  t.equal(view.state, 'failed');
  t.match(view.error, { code: 'KEYING_FAILED', message: /CPIX key server answered 403/ });
  const log = (await import('node:fs')).readFileSync(server.logFile, 'utf8');
  t.notOk(log.includes('Bearer wrong'), 'the authorization never reaches the log');
});
