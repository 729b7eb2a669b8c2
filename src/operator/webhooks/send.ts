import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which addresses a webhook may be sent to. Only public unicast addresses, unless a range is
 * allowed in config: a webhook URL is operator input, and without this check it could reach the
 * server's own loopback services, a cloud metadata address or the private network.
 */
export type AddressPolicy = (address: string) => boolean;

export function addressPolicy(allowedRanges: readonly string[]): AddressPolicy {
  const allowed = allowedRanges.map((range) => ipaddr.parseCIDR(range));
  return (address) => {
    if (!ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address); // an IPv4-mapped IPv6 address is judged as the IPv4 it is
    if (allowed.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits))) return true;
    return parsed.range() === 'unicast';
  };
}

/** Why an attempt reached no receiver, or what the receiver said wrong; the codes are the delivery log's. */
export const attemptErrors = {
  ADDRESS_REFUSED: 'The URL resolves to an address webhooks may not reach (private, loopback, link-local or reserved).',
  DNS_FAILED: 'The host name could not be resolved.',
  CONNECTION_FAILED: 'No connection could be made, or it broke before an answer.',
  TIMEOUT: 'The receiver did not answer in time.',
  HTTP_STATUS: 'The receiver answered with a status other than 2xx.',
} as const;
export type AttemptError = keyof typeof attemptErrors;

export type SendResult = { status: number | null; error: AttemptError | null; detail: string | null };

export type WebhookRequest = { url: string; headers: Record<string, string>; body: string; /** Aborts the attempt (the server stopping): it then counts for nothing. */ signal?: AbortSignal };

/** Sends one webhook request; the answer's body is read and dropped, never kept. */
export type WebhookSender = (request: WebhookRequest) => Promise<SendResult>;

class RefusedAddress extends Error {
  constructor(readonly address: string) {
    super(`${address} is not an address webhooks may reach`);
  }
}

/**
 * A sender over node:http(s). The address is checked after resolution, on the very address the
 * socket connects to (a name that resolves differently a second time cannot slip past), and
 * redirects are not followed.
 */
export function httpSender(options: { allowed: AddressPolicy; timeoutMs: number; userAgent: string }): WebhookSender {
  const guardedLookup: RequestOptions['lookup'] = (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.find((entry) => !options.allowed(entry.address));
      if (refused) return callback(new RefusedAddress(refused.address), '', 0);
      if ((lookupOptions as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  return (webhook) =>
    new Promise<SendResult>((resolve) => {
      const url = new URL(webhook.url);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      // A literal address is never looked up: judge it here.
      if (isIP(host) && !options.allowed(host)) {
        resolve({ status: null, error: 'ADDRESS_REFUSED', detail: `${host} is not an address webhooks may reach` });
        return;
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(
        url,
        {
          method: 'POST',
          headers: { ...webhook.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(webhook.body)), 'user-agent': options.userAgent },
          lookup: guardedLookup,
          signal: webhook.signal ? AbortSignal.any([webhook.signal, AbortSignal.timeout(options.timeoutMs)]) : AbortSignal.timeout(options.timeoutMs),
        },
        (response) => {
          const status = response.statusCode ?? 0;
          response.resume(); // the body says nothing we keep
          response.once('end', () => resolve(status >= 200 && status < 300 ? { status, error: null, detail: null } : { status, error: 'HTTP_STATUS', detail: `answered ${status}` }));
          response.once('error', () => resolve({ status, error: 'CONNECTION_FAILED', detail: 'the answer broke off' }));
        },
      );
      request.once('error', (error: Error & { code?: string }) => {
        if (error instanceof RefusedAddress) resolve({ status: null, error: 'ADDRESS_REFUSED', detail: error.message });
        else if (error.name === 'AbortError' || error.name === 'TimeoutError') resolve({ status: null, error: 'TIMEOUT', detail: `no answer within ${options.timeoutMs} ms` });
        else if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') resolve({ status: null, error: 'DNS_FAILED', detail: `${url.hostname} could not be resolved` });
        else resolve({ status: null, error: 'CONNECTION_FAILED', detail: error.code ?? error.message });
      });
      request.end(webhook.body);
    });
}
