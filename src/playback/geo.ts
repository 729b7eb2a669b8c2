import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type GeoSettings = {
  /** The header a CDN sets with the viewer's country (e.g. CloudFront-Viewer-Country, CF-IPCountry); '' for none. */
  countryHeader: string;
  /** Peers whose country header is believed: the CDN or proxy addresses (CIDR ranges or addresses). */
  trustedProxies: readonly string[];
  /** Address ranges → countries, for viewers not behind a trusted proxy (first match wins). */
  ranges: readonly { cidr: string; country: string }[];
};

const countryPattern = /^[A-Z]{2}$/;

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const type = isIPv6(address!) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return list;
}

const familyOf = (address: string): 'ipv4' | 'ipv6' | null => (isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null);

/** IPv4 peers often appear as ::ffff:a.b.c.d on dual-stack sockets. */
const unmapped = (address: string) => (address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address);

/**
 * Which country a viewer is in. The trust model: a country header is only as honest as whoever
 * set it, so it is read only when the request's TCP peer is one of the configured proxies (a
 * CDN strips or overwrites the header clients send). Anyone else is placed by their address in
 * the configured range table; failing that the country is unknown (null), and the caller's
 * policy decides.
 */
export class CountryResolver {
  private readonly trusted: BlockList;
  private readonly ranges: { list: BlockList; country: string }[];

  constructor(private readonly settings: GeoSettings) {
    this.trusted = blockListOf(settings.trustedProxies);
    this.ranges = settings.ranges.map((range) => ({ list: blockListOf([range.cidr]), country: range.country.toUpperCase() }));
  }

  /** `peer`: the socket's remote address; `client`: the viewer's address as the trusted proxies report it (or the peer). */
  countryOf(peer: string, client: string, header: (name: string) => string | undefined): string | null {
    const peerAddress = unmapped(peer);
    const peerFamily = familyOf(peerAddress);
    if (this.settings.countryHeader && peerFamily && this.trusted.check(peerAddress, peerFamily)) {
      const value = header(this.settings.countryHeader)?.trim().toUpperCase();
      // XX is how CDNs say they do not know either.
      if (value && countryPattern.test(value) && value !== 'XX') return value;
    }
    const address = unmapped(client);
    const family = familyOf(address);
    if (!family) return null;
    return this.ranges.find((range) => range.list.check(address, family))?.country ?? null;
  }
}
