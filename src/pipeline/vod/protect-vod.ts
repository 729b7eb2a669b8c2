import { createCipheriv } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serializeBoxes } from '../bmff/write.js';
import { protectTrack, psshBoxes, SampleEncryptor, type CencScheme, type SourcedKey } from '../cmaf/encrypt.js';
import { encodeFragment } from '../cmaf/fragment.js';
import { buildInitSegment } from '../cmaf/init-segment.js';
import { initSegmentName, segmentName, type SegmentRecord } from '../cmaf/segment-writer.js';
import { Fmp4StreamParser } from '../demux/fmp4-stream.js';
import type { DemuxedTrack } from '../demux/fmp4.js';
import { clearKeyContentProtection, dashManifestName, writeStaticMpd } from '../manifest/dash.js';
import { mediaPlaylistName, multivariantName, writeMultivariantPlaylist, writeVodMediaPlaylist, type HlsKeyTags } from '../manifest/hls.js';
import { packagedRendition, type PackagedRendition } from '../manifest/packaged-rendition.js';
import type { Sample } from '../media.js';
import type { Rate } from '../encode/probe.js';

export type VodProtection = CencScheme | 'aes-128';

/** The AES-128 key file of a title, next to its playlists (the URI players fetch, with the token). */
export const aes128KeyName = 'aes128.key';

const uuid = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

/** Reads one of our own clear segment files back into samples (with the init's defaults). */
function readSegment(init: Buffer, segment: Buffer): { track: DemuxedTrack; samples: Sample[] } {
  let track: DemuxedTrack | undefined;
  const samples: Sample[] = [];
  const parser = new Fmp4StreamParser((event) => {
    if (event.kind === 'tracks') track = event.tracks[0];
    else samples.push(...event.samples);
  });
  parser.push(init);
  parser.push(segment);
  if (!track) throw new Error('the clear init segment describes no track');
  return { track, samples };
}

/** AES-128-CBC with PKCS#7 over a whole segment; the IV is its media sequence number (RFC 8216 §5.2). */
function encryptWholeSegment(bytes: Buffer, key: Uint8Array, sequence: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(sequence, 12);
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([cipher.update(bytes), cipher.final()]);
}

function hlsKeyTags(protection: VodProtection, key: SourcedKey): HlsKeyTags {
  if (protection === 'aes-128') return { beforeMap: [], afterMap: [`#EXT-X-KEY:METHOD=AES-128,URI="../${aes128KeyName}"`] };
  const method = protection === 'cenc' ? 'SAMPLE-AES-CTR' : 'SAMPLE-AES';
  const kid = Buffer.from(key.kid).toString('base64');
  return {
    beforeMap: [`#EXT-X-KEY:METHOD=${method},URI="data:text/plain;base64,${kid}",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`],
    afterMap: [],
  };
}

/** DASH ContentProtection: mp4protection with the default KID, ClearKey, and any supplied systems. */
function contentProtection(scheme: CencScheme, key: SourcedKey): string {
  const systems = key.pssh.map(
    (p) => `<ContentProtection schemeIdUri="urn:uuid:${uuid(p.systemId)}"><cenc:pssh>${Buffer.from(serializeBoxes([p])).toString('base64')}</cenc:pssh></ContentProtection>`,
  );
  return [
    `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${scheme}" cenc:default_KID="${uuid(key.kid)}"/>`,
    clearKeyContentProtection,
    ...systems,
  ].join('');
}

export type ProtectVodOptions = {
  clearDir: string;
  outDir: string;
  protection: VodProtection;
  key: SourcedKey;
  frameRates: Map<string, Rate>;
};

/**
 * The encryption stage over a packaged title: every clear segment is read back and written
 * protected (sample encryption for cenc/cbcs, whole-segment AES-128), with manifests that carry
 * the key signalling. The clear set is left as it was.
 */
export async function protectVod(options: ProtectVodOptions): Promise<PackagedRendition[]> {
  await mkdir(options.outDir, { recursive: true });
  const entries = await readdir(options.clearDir, { withFileTypes: true });
  const renditions: PackagedRendition[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const id = entry.name;
    const inDir = join(options.clearDir, id);
    const outDir = join(options.outDir, id);
    await mkdir(outDir, { recursive: true });
    const init = await readFile(join(inDir, initSegmentName));
    const numbers = (await readdir(inDir))
      .map((name) => /^seg-(\d+)\.m4s$/.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const records: SegmentRecord[] = [];
    let track: DemuxedTrack | undefined;
    let encryptor: SampleEncryptor | undefined;
    for (const number of numbers) {
      const clear = await readFile(join(inDir, segmentName(number)));
      const parsed = readSegment(init, clear);
      track ??= parsed.track;
      const samples = parsed.samples;
      const startDts = samples[0]!.dts;
      const last = samples[samples.length - 1]!;
      let bytes: Buffer;
      if (options.protection === 'aes-128') {
        bytes = encryptWholeSegment(clear, options.key.key, number);
      } else {
        encryptor ??= new SampleEncryptor(options.protection, options.key, parsed.track.kind);
        const encrypted = encryptor.encrypt(samples);
        const fragment = encodeFragment({ sequenceNumber: number, samples: encrypted.samples, withStyp: true, protection: { ivSize: encrypted.ivSize, aux: encrypted.aux } });
        bytes = Buffer.concat([fragment.header, ...fragment.payload]);
      }
      await writeFile(join(outDir, segmentName(number)), bytes);
      records.push({ number, startDts, duration: last.dts + last.duration - startDts, bytes: bytes.length });
    }
    if (!track) throw new Error(`rendition ${id} has no segments to protect`);
    const protectedInit = options.protection === 'aes-128' ? init : buildInitSegment(protectTrack(track, options.protection, options.key), psshBoxes(options.key, options.key.pssh));
    await writeFile(join(outDir, initSegmentName), protectedInit);
    const rendition = packagedRendition(id, track, options.frameRates.get(id) ?? null, records);
    await writeFile(join(outDir, mediaPlaylistName), writeVodMediaPlaylist(rendition, hlsKeyTags(options.protection, options.key)));
    renditions.push(rendition);
  }
  const ordered = [...renditions.filter((r) => r.kind === 'video'), ...renditions.filter((r) => r.kind === 'audio')];
  await writeFile(join(options.outDir, multivariantName), writeMultivariantPlaylist(ordered));
  // Whole-segment AES-128 is HLS only: no DASH manifest is published for it.
  if (options.protection !== 'aes-128') await writeFile(join(options.outDir, dashManifestName), writeStaticMpd(ordered, contentProtection(options.protection, options.key)));
  for (const file of ['poster.jpg', 'renditions.json']) await copyFile(join(options.clearDir, file), join(options.outDir, file)).catch(() => undefined);
  return ordered;
}
