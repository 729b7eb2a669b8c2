import { randomBytes, randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import type { Pssh } from '../pipeline/bmff/boxes.js';
import { parseBoxes } from '../pipeline/bmff/read.js';
import { systemIds } from '../pipeline/cmaf/encrypt.js';
import type { SourcedKey } from '../pipeline/cmaf/encrypt.js';
import type { KeySource, Protection } from './keys.js';

export type CpixOptions = {
  /** The key server's CPIX endpoint (SPEKE v2 style: the request document is POSTed). */
  url: string;
  /** Sent as the Authorization header when set (never logged). */
  authorization?: string;
  /** DRM systems to ask PSSH data for, as system-id UUIDs (e.g. Widevine, PlayReady). */
  systemIds: string[];
  timeoutMs?: number;
};

const hexOf = (uuidText: string): string => uuidText.replace(/-/g, '').toLowerCase();
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The CPIX 2.3 request: one content key (Weir picks the KID), the DRM systems, and a usage rule. */
export function cpixRequest(contentId: string, kid: string, scheme: 'cenc' | 'cbcs', systems: readonly string[]): string {
  const drmSystems = systems
    .map((system) => `<cpix:DRMSystem kid="${kid}" systemId="${system}"/>`)
    .join('');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="${escape(contentId)}" version="2.3">`,
    `<cpix:ContentKeyList><cpix:ContentKey kid="${kid}" commonEncryptionScheme="${scheme}"/></cpix:ContentKeyList>`,
    `<cpix:DRMSystemList>${drmSystems}</cpix:DRMSystemList>`,
    `<cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="${kid}" intendedTrackType="ALL"/></cpix:ContentKeyUsageRuleList>`,
    '</cpix:CPIX>',
  ].join('');
}

type Node = Record<string, unknown>;
const list = (value: unknown): Node[] => (value === undefined ? [] : Array.isArray(value) ? (value as Node[]) : [value as Node]);

/** Reads the content key and PSSH boxes from a CPIX response (pskc:PlainValue, cpix:PSSH). */
export function parseCpixResponse(xml: string, kid: string): { key: Buffer; iv: Buffer | null; pssh: Pssh[] } {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, parseTagValue: false });
  const doc = parser.parse(xml) as { CPIX?: Node };
  const cpix = doc.CPIX;
  if (!cpix) throw new Error('the key server answered without a CPIX document');
  const contentKey = list((cpix.ContentKeyList as Node | undefined)?.ContentKey).find((k) => hexOf(String(k['@kid'] ?? '')) === hexOf(kid));
  const plain = ((contentKey?.Data as Node | undefined)?.Secret as Node | undefined)?.PlainValue;
  if (typeof plain !== 'string') throw new Error(`the CPIX response has no plain key for KID ${kid}`);
  const key = Buffer.from(plain.trim(), 'base64');
  if (key.length !== 16) throw new Error(`the CPIX key for KID ${kid} is ${key.length} bytes; expected 16`);
  const explicitIv = contentKey?.['@explicitIV'];
  const pssh: Pssh[] = [];
  for (const system of list((cpix.DRMSystemList as Node | undefined)?.DRMSystem)) {
    const systemId = hexOf(String(system['@systemId'] ?? ''));
    if (systemId === systemIds.clearKey || typeof system.PSSH !== 'string') continue;
    const box = parseBoxes(Buffer.from(system.PSSH.trim(), 'base64'))[0];
    if (box?.type === 'pssh') pssh.push(box);
  }
  return { key, iv: typeof explicitIv === 'string' ? Buffer.from(explicitIv, 'base64') : null, pssh };
}

/** Keys from a commercial DRM service over DASH-IF CPIX 2.3 (SPEKE v2 style POST). */
export class CpixKeySource implements KeySource {
  constructor(private readonly options: CpixOptions) {}

  async getKey(request: { contentId: string; protection: Exclude<Protection, 'none'>; period: number }): Promise<SourcedKey> {
    const kid = randomUUID();
    const scheme = request.protection === 'cbcs' ? 'cbcs' : 'cenc';
    const headers: Record<string, string> = { 'content-type': 'application/xml' };
    if (this.options.authorization) headers.authorization = this.options.authorization;
    const response = await fetch(this.options.url, {
      method: 'POST',
      headers,
      body: cpixRequest(`${request.contentId}:${request.period}`, kid, scheme, this.options.systemIds),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    if (!response.ok) throw new Error(`the CPIX key server answered ${response.status} ${response.statusText}`);
    const parsed = parseCpixResponse(await response.text(), kid);
    return { kid: Buffer.from(hexOf(kid), 'hex'), key: parsed.key, iv: parsed.iv ?? randomBytes(16), pssh: parsed.pssh };
  }
}
