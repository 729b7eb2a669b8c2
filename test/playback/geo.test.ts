import t from 'tap';
import { CountryResolver } from '../../src/playback/geo.js';

const resolver = new CountryResolver({
  countryHeader: 'CloudFront-Viewer-Country',
  trustedProxies: ['10.0.0.0/8', '2001:db8::/32'],
  ranges: [
    { cidr: '203.0.113.0/24', country: 'NZ' },
    { cidr: '198.51.100.0/24', country: 'FR' },
  ],
});
const headers = (values: Record<string, string>) => (name: string) => values[name.toLowerCase()];

t.test('the CDN country header is believed only from a trusted proxy', async (t) => {
  t.equal(resolver.countryOf('10.1.2.3', '198.51.100.7', headers({ 'cloudfront-viewer-country': 'de' })), 'DE', 'from the CDN');
  t.equal(resolver.countryOf('::ffff:10.1.2.3', '198.51.100.7', headers({ 'cloudfront-viewer-country': 'DE' })), 'DE', 'an IPv4 peer on a dual-stack socket');
  t.equal(resolver.countryOf('2001:db8::1', '198.51.100.7', headers({ 'cloudfront-viewer-country': 'DE' })), 'DE', 'an IPv6 proxy');
  t.equal(resolver.countryOf('198.51.100.7', '198.51.100.7', headers({ 'cloudfront-viewer-country': 'DE' })), 'FR', 'a client sending the header itself is placed by its address');
});

t.test('without a believable header the address table decides, and otherwise the country is unknown', async (t) => {
  t.equal(resolver.countryOf('203.0.113.9', '203.0.113.9', headers({})), 'NZ');
  t.equal(resolver.countryOf('10.1.2.3', '203.0.113.9', headers({})), 'NZ', 'behind the proxy, by the forwarded client address');
  t.equal(resolver.countryOf('10.1.2.3', '203.0.113.9', headers({ 'cloudfront-viewer-country': 'XX' })), 'NZ', 'the CDN saying it does not know either');
  t.equal(resolver.countryOf('10.1.2.3', '203.0.113.9', headers({ 'cloudfront-viewer-country': 'Germany' })), 'NZ', 'a malformed header is ignored');
  t.equal(resolver.countryOf('192.0.2.1', '192.0.2.1', headers({})), null);
  t.equal(resolver.countryOf('', 'not an address', headers({})), null);
});
