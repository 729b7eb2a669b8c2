import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterBoxes, findBox, type Box, type Tenc } from '../../../src/pipeline/bmff/boxes.js';
import { parseBoxes, readSenc } from '../../../src/pipeline/bmff/read.js';
import { protectTrack, psshBoxes, SampleEncryptor, type CencScheme } from '../../../src/pipeline/cmaf/encrypt.js';
import { encodeFragment } from '../../../src/pipeline/cmaf/fragment.js';
import { buildInitSegment } from '../../../src/pipeline/cmaf/init-segment.js';
import { openFragmentedMp4 } from '../../../src/pipeline/demux/fmp4.js';
import type { Sample } from '../../../src/pipeline/media.js';
import { tools } from '../../helpers/media.js';

const dir = mkdtempSync(join(tmpdir(), 'weir-encrypt-'));

async function clearSamples() {
  const path = join(dir, 'clear.mp4');
  execFileSync(tools.ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
    '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', path,
  ]);
  const file = await openFragmentedMp4(path);
  const byTrack = new Map<number, Sample[]>();
  for await (const fragment of file.fragments()) byTrack.set(fragment.trackId, [...(byTrack.get(fragment.trackId) ?? []), ...fragment.samples.map((s) => ({ ...s, data: Uint8Array.from(s.data) }))]);
  await file.close();
  return file.tracks.map((track) => ({ track, samples: byTrack.get(track.trackId)! }));
}

/**
 * An independent decryptor, written from ISO/IEC 23001-7 rather than from the encryptor:
 * it learns everything (scheme, pattern, IVs, subsamples) from the boxes in the output.
 */
function decryptFragment(init: Uint8Array, fragment: Uint8Array, key: Buffer): Uint8Array[] {
  const initBoxes = parseBoxes(init);
  const schm = findBox(initBoxes, 'schm')!;
  const tenc = findBox(initBoxes, 'tenc') as Tenc;
  const boxes = parseBoxes(fragment);
  const moof = boxes.find((b) => b.type === 'moof') as { boxes: Box[] };
  const traf = filterBoxes(moof.boxes, 'traf')[0]!.boxes;
  const trun = findBox(traf, 'trun')!;
  const sencRaw = traf.find((b) => b.type === 'raw' && b.fourcc === 'senc') as { payload: Uint8Array };
  const senc = readSenc(sencRaw.payload, tenc.perSampleIvSize);
  const saio = findBox(traf, 'saio')!;
  // saio must point at senc's first sample entry, counted from the start of the moof.
  const moofStart = Buffer.from(fragment).readUInt32BE(0); // the moof follows the styp box
  // With neither IVs nor subsamples (cbcs audio) the entries are empty and there is nothing to point at.
  if (tenc.perSampleIvSize > 0 || senc.useSubsamples) {
    const firstEntry = Buffer.from(fragment).subarray(moofStart + saio.offsets[0]!, moofStart + saio.offsets[0]! + Math.max(1, tenc.perSampleIvSize));
    const expectedFirst = tenc.perSampleIvSize > 0 ? Buffer.from(senc.samples[0]!.iv) : Buffer.from([senc.samples[0]!.subsamples.length >> 8]);
    if (!firstEntry.equals(expectedFirst)) throw new Error('saio does not point at the first senc entry');
  }
  const mdat = boxes.find((b) => b.type === 'mdat') as { data: Uint8Array };
  let offset = 0;
  return trun.samples.map((entry, index) => {
    const data = Buffer.from(mdat.data.subarray(offset, offset + entry.size!));
    offset += entry.size!;
    const aux = senc.samples[index]!;
    // Without subsample entries the whole sample is one protected range (23001-7 §7.2).
    const ranges = senc.useSubsamples ? aux.subsamples : [{ clear: 0, protected: data.length }];
    let at = 0;
    if (schm.schemeType === 'cenc') {
      const decipher = createDecipheriv('aes-128-ctr', key, Buffer.concat([Buffer.from(aux.iv), Buffer.alloc(8)]));
      for (const sub of ranges) {
        at += sub.clear;
        decipher.update(data.subarray(at, at + sub.protected)).copy(data, at);
        at += sub.protected;
      }
    } else {
      for (const sub of ranges) {
        at += sub.clear;
        const decipher = createDecipheriv('aes-128-cbc', key, Buffer.from(tenc.constantIv!)).setAutoPadding(false);
        const blocks = Math.floor(sub.protected / 16);
        const crypt = tenc.cryptByteBlock || blocks;
        const skip = tenc.skipByteBlock;
        for (let block = 0; block < blocks; block += crypt + skip) {
          const n = Math.min(crypt, blocks - block);
          const start = at + block * 16;
          decipher.update(data.subarray(start, start + n * 16)).copy(data, start);
        }
        at += sub.protected;
      }
    }
    return Uint8Array.from(data);
  });
}

for (const scheme of ['cenc', 'cbcs'] as CencScheme[]) {
  t.test(`${scheme}: an independent decryptor recovers every clear sample from the written boxes`, async (t) => {
    const key = { kid: randomBytes(16), key: randomBytes(16), iv: randomBytes(16) };
    for (const { track, samples } of await clearSamples()) {
      const protectedTrack = protectTrack(track, scheme, key);
      const init = buildInitSegment(protectedTrack, psshBoxes(key));
      const encryptor = new SampleEncryptor(scheme, key, track.kind);
      const encrypted = encryptor.encrypt(samples);
      const fragment = encodeFragment({ sequenceNumber: 1, samples: encrypted.samples, withStyp: true, protection: { ivSize: encrypted.ivSize, aux: encrypted.aux } });
      const bytes = Buffer.concat([fragment.header, ...fragment.payload]);
      const decrypted = decryptFragment(init, bytes, Buffer.from(key.key));
      t.equal(decrypted.length, samples.length, `${track.kind}: every sample is there`);
      t.ok(decrypted.every((d, i) => Buffer.from(d).equals(Buffer.from(samples[i]!.data))), `${track.kind}: decrypted samples equal the clear ones`);
      const changed = encrypted.samples.filter((s, i) => !Buffer.from(s.data).equals(Buffer.from(samples[i]!.data))).length;
      t.ok(changed > samples.length * 0.9, `${track.kind}: the samples really are encrypted (${changed} of ${samples.length} differ)`);
      const initBoxes = parseBoxes(init);
      t.ok(track.kind === 'video' ? findBox(initBoxes, 'encv') : findBox(initBoxes, 'enca'), `the sample entry is ${track.kind === 'video' ? 'encv' : 'enca'}`);
      t.equal(findBox(initBoxes, 'frma')?.dataFormat, track.kind === 'video' ? 'avc1' : 'mp4a');
      t.equal(Buffer.from(findBox(initBoxes, 'pssh')!.systemId).toString('hex'), '1077efecc0b24d02ace33c1e52e2fb4b', 'ClearKey pssh');
      if (track.kind === 'video') {
        // NAL length prefixes and headers stay readable: walk the encrypted sample by its lengths.
        const first = Buffer.from(encrypted.samples[0]!.data);
        let at = 0;
        const types: number[] = [];
        while (at + 4 < first.length) {
          types.push(first[at + 4]! & 0x1f);
          at += 4 + first.readUInt32BE(at);
        }
        t.equal(at, first.length, 'the NAL structure survives encryption');
        t.ok(types.includes(5), 'an IDR slice NAL header is readable in the clear');
        const tenc = findBox(initBoxes, 'tenc')!;
        if (scheme === 'cbcs') t.match(tenc, { version: 1, cryptByteBlock: 1, skipByteBlock: 9, perSampleIvSize: 0 }, 'cbcs video: 1:9 pattern, constant IV');
        else t.match(tenc, { version: 0, perSampleIvSize: 8 }, 'cenc: 8-byte per-sample IVs');
      } else {
        const sencRaw = filterBoxes((parseBoxes(bytes).find((b) => b.type === 'moof') as { boxes: Box[] }).boxes, 'traf')[0]!.boxes.find((b) => b.type === 'raw' && b.fourcc === 'senc') as { payload: Uint8Array };
        t.notOk(readSenc(sencRaw.payload, encrypted.ivSize).useSubsamples, 'audio samples are protected whole, with no subsample entries');
      }
    }
  });
}
