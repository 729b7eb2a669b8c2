import type { RefusalCode } from '../contract.js';
import { kmCipher, parseKeyMaterial, SrtDecryptor } from './crypto.js';
import { decodeExtensionString, extensionType, handshakeBody, handshakeType, hsFlags, parseStreamId, rejection, srtMagic, type Handshake } from './packet.js';

/** The libsrt version Weir answers as (1.5.1). */
const srtVersion = 0x00010501;

/** The SRT rejection code (srt.h SRT_REJX_*) a publisher gets for each refusal in the error catalog. */
export const rejectionOfRefusal = {
  PUBLISH_KEY_UNKNOWN: rejection.unauthorized,
  PUBLISH_APP_UNKNOWN: rejection.unauthorized,
  PUBLISH_CONFLICT: rejection.conflict,
  PUBLISH_UNAVAILABLE: rejection.unavailable,
} as const satisfies Record<RefusalCode, number>;

/** What a conclusion asks for, once it is found acceptable. */
export type Agreement = {
  streamKey: string;
  /** The receiver latency both sides use (TSBPD): the larger of ours and the caller's send latency. */
  latencyMs: number;
  /** The latency the caller's own receiver will use (it receives only control packets here). */
  peerLatencyMs: number;
  /** Set when the caller encrypts with the stream's passphrase; its key material is echoed back. */
  decryptor: SrtDecryptor | null;
  keyMaterial: Buffer | null;
};

export type Judgement = { refused: { code: number; reason: string } } | { agreed: Agreement };

/**
 * Accept-or-refuse for an HSv5 conclusion, before anyone is asked about the stream: live mode
 * only, no filters or groups, a publish stream id, and encryption exactly when the stream has a
 * passphrase (`passphraseFor` answers undefined for a key it does not know: the authority
 * refuses that one, with its own code). No I/O; the same request always gets the same answer.
 */
export function judgeConclusion(hs: Handshake, latencyMs: number, passphraseFor: (streamKey: string) => string | null | undefined): Judgement {
  const refuse = (code: number, reason: string): Judgement => ({ refused: { code, reason } });
  if (hs.version !== 5) return refuse(rejection.version, 'HSv4 callers are not supported');
  const ext = (type: number) => hs.extensions.find((e) => e.type === type);
  const hsreq = ext(extensionType.hsreq);
  if (!hsreq || hsreq.body.length < 12) return refuse(rejection.version, 'no HSREQ extension');
  const flags = hsreq.body.readUInt32BE(4);
  if (flags & hsFlags.stream) return refuse(rejection.messageApi, 'file (stream) mode is not supported; use live mode');
  const congestion = ext(extensionType.congestion);
  if (congestion && decodeExtensionString(congestion.body) !== 'live') return refuse(rejection.congestion, 'only live congestion control is supported');
  if (ext(extensionType.filter)) return refuse(rejection.filter, 'packet filters (FEC) are not supported');
  if (ext(extensionType.group)) return refuse(rejection.group, 'socket groups are not supported');
  const sidExt = ext(extensionType.sid);
  const { key, mode } = parseStreamId(sidExt ? decodeExtensionString(sidExt.body) : '');
  if (mode !== 'publish') return refuse(rejection.forbidden, `stream id mode ${JSON.stringify(mode.slice(0, 32))} is not served; publish with m=publish`);
  const passphrase = passphraseFor(key);
  const kmreq = ext(extensionType.kmreq);
  let decryptor: SrtDecryptor | null = null;
  if (passphrase !== undefined) {
    if (kmreq && passphrase === null) return refuse(rejection.unsecure, 'the caller encrypts but the stream has no SRT passphrase');
    if (!kmreq && passphrase !== null) return refuse(rejection.unsecure, 'the stream requires an SRT passphrase');
    if (kmreq && passphrase !== null) {
      const km = parseKeyMaterial(kmreq.body);
      if (!km) return refuse(rejection.badSecret, 'unreadable key material');
      if (km.cipher === kmCipher.gcm) return refuse(rejection.unsecure, 'AES-GCM is not supported; use the default AES-CTR');
      try {
        decryptor = new SrtDecryptor(km, passphrase);
      } catch {
        return refuse(rejection.badSecret, 'wrong passphrase');
      }
    }
  }
  const callerRcv = hsreq.body.readUInt16BE(8);
  const callerSnd = hsreq.body.readUInt16BE(10);
  return {
    agreed: {
      streamKey: key,
      latencyMs: Math.max(latencyMs, callerSnd),
      peerLatencyMs: Math.max(latencyMs, callerRcv),
      decryptor,
      keyMaterial: decryptor && kmreq ? kmreq.body : null,
    },
  };
}

/** The induction answer: HSv5, the SRT magic, and the cookie the conclusion must return. */
export function inductionResponse(hs: Handshake, cookie: number): Buffer {
  return handshakeBody({ ...hs, version: 5, encryption: 0, extension: srtMagic, type: handshakeType.induction, socketId: cookie >>> 1, cookie, extensions: [] });
}

/** The conclusion answer for an agreement: HSRSP with both latencies, and KMRSP when encrypted. */
export function acceptanceResponse(hs: Handshake, socketId: number, agreement: Agreement): Buffer {
  const hsrsp = Buffer.alloc(12);
  hsrsp.writeUInt32BE(srtVersion, 0);
  hsrsp.writeUInt32BE(hsFlags.tsbpdSnd | hsFlags.tsbpdRcv | hsFlags.tlpktDrop | hsFlags.periodicNak | hsFlags.rexmitFlag, 4);
  hsrsp.writeUInt16BE(agreement.latencyMs, 8);
  hsrsp.writeUInt16BE(agreement.peerLatencyMs, 10);
  const extensions: Handshake['extensions'] = [{ type: extensionType.hsrsp, body: hsrsp }];
  // The accepted key material is echoed back as KMRSP.
  if (agreement.keyMaterial) extensions.push({ type: extensionType.kmrsp, body: agreement.keyMaterial });
  return handshakeBody({ ...hs, version: 5, encryption: 0, extension: agreement.keyMaterial ? 1 | 2 : 1, type: handshakeType.conclusion, socketId, cookie: 0, extensions });
}

/** The conclusion answer that refuses: the rejection code in the handshake type. */
export function rejectionResponse(hs: Handshake, code: number): Buffer {
  return handshakeBody({ ...hs, version: 5, encryption: 0, extension: 0, type: code, socketId: 0, cookie: 0, extensions: [] });
}
