import type { Request } from 'express';
import { decodeCmcd, fromCmcdHeaders, type CmcdData } from '@svta/cml-cmcd';

/** What a media request's Common Media Client Data says, as far as QoE needs. */
export type CmcdReport = { bitrateKbps: number | null; objectType: string | null; bufferStarved: boolean; bufferMs: number | null; measuredKbps: number | null };

const headerNames = ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session'] as const;
const maxLength = 4096;

const firstNumber = (value: unknown): number | null => {
  const first = Array.isArray(value) ? (value as unknown[])[0] : value;
  const number = typeof first === 'object' && first !== null && 'value' in first ? (first as { value: unknown }).value : first;
  return typeof number === 'number' && Number.isFinite(number) ? number : null;
};

/**
 * CMCD (CTA-5004) from the `CMCD` query argument or the `CMCD-*` headers, read by the SVTA's
 * Common Media Library; null when the request carries none. Malformed data is ignored: it must
 * never cost a viewer the segment it asked for.
 */
export function cmcdOf(req: Request): CmcdReport | null {
  let data: CmcdData | null = null;
  try {
    const query = req.query.CMCD;
    if (typeof query === 'string' && query.length <= maxLength) data = decodeCmcd(query);
    else if (headerNames.some((name) => req.headers[name] !== undefined)) {
      const headers: Record<string, string> = {};
      for (const name of headerNames) {
        const value = req.headers[name];
        if (typeof value === 'string' && value.length <= maxLength) headers[name] = value;
      }
      data = fromCmcdHeaders(headers);
    }
  } catch {
    return null;
  }
  if (!data) return null;
  const fields = data as Record<string, unknown>;
  return {
    bitrateKbps: firstNumber(fields.br),
    objectType: typeof fields.ot === 'string' ? fields.ot : null,
    bufferStarved: fields.bs === true,
    bufferMs: firstNumber(fields.bl),
    measuredKbps: firstNumber(fields.mtp),
  };
}
