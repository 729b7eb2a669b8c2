import t from 'tap';
import type { Box } from '../../../src/pipeline/bmff/boxes.js';
import { parseBoxes, readSenc } from '../../../src/pipeline/bmff/read.js';
import { serializeBoxes } from '../../../src/pipeline/bmff/write.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
/** Golden bytes are written as commented hex words; spaces and comments are dropped. */
const golden = (text: string): string => text.replace(/#.*$/gm, '').replace(/\s+/g, '');

t.test('box writers produce the exact bytes the spec lays out', async (t) => {
  t.equal(
    hex(serializeBoxes([{ type: 'ftyp', majorBrand: 'cmf2', minorVersion: 0, compatibleBrands: ['cmfc', 'iso6'] }])),
    golden(`
      00000018 66747970 # size 24, 'ftyp'
      636d6632          # major brand cmf2
      00000000          # minor version
      636d6663 69736f36 # cmfc iso6
    `),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'mfhd', sequenceNumber: 7 }])),
    golden(`00000010 6d666864 00000000 00000007 # mfhd v0, sequence 7`),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'tfdt', baseMediaDecodeTime: 0x1_0000_0002n }])),
    golden(`00000014 74666474 01000000 # tfdt v1
            00000001 00000002          # 64-bit decode time`),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'tfhd', trackId: 1, defaultBaseIsMoof: true, defaultSampleFlags: 0x01010000 }])),
    golden(`00000014 74666864 00020020 # tfhd, flags default-base-is-moof | default-sample-flags
            00000001                   # track 1
            01010000                   # non-sync default flags`),
  );
  t.equal(
    hex(
      serializeBoxes([
        {
          type: 'trun',
          version: 1,
          dataOffset: 120,
          samples: [
            { duration: 512, size: 1000, flags: 0x02000000, compositionTimeOffset: 0 },
            { duration: 512, size: 200, flags: 0x01010000, compositionTimeOffset: -512 },
          ],
        },
      ]),
    ),
    golden(`
      00000034 7472756e 01000f01 # trun v1, flags data-offset|duration|size|flags|cto
      00000002 00000078          # 2 samples, data offset 120
      00000200 000003e8 02000000 00000000 # 512, 1000 bytes, sync, cto 0
      00000200 000000c8 01010000 fffffe00 # 512, 200 bytes, non-sync, cto -512
    `),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'mdhd', timescale: 90000, duration: 0, language: 'und' }])),
    golden(`00000020 6d646864 00000000 # mdhd v0
            00000000 00000000 00015f90 00000000 # times, timescale 90000, duration 0
            55c4 0000                  # 'und' packed, pre_defined`),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'trex', trackId: 2, defaultSampleDescriptionIndex: 1, defaultSampleDuration: 0, defaultSampleSize: 0, defaultSampleFlags: 0 }])),
    golden(`00000020 74726578 00000000 00000002 00000001 00000000 00000000 00000000`),
  );
  t.equal(
    hex(serializeBoxes([{ type: 'hdlr', handlerType: 'vide', name: 'Weir' }])),
    golden(`00000025 68646c72 00000000 00000000 76696465 000000000000000000000000 5765697200`),
  );
  t.equal(
    hex(
      serializeBoxes([
        { type: 'esds', objectTypeIndication: 0x40, bufferSizeDb: 0, maxBitrate: 128000, avgBitrate: 128000, decoderSpecificInfo: Uint8Array.of(0x11, 0x90) },
      ]),
    ),
    golden(`
      00000027 65736473 00000000 # esds v0
      0319 0000 00               # ES_Descriptor len 25, ES_ID 0, flags 0
      0411 40 15 000000 0001f400 0001f400 # DecoderConfig len 17: AAC, audio stream, bitrates 128000
      0502 1190                  # DecoderSpecificInfo: AudioSpecificConfig LC 48 kHz stereo
      0601 02                    # SLConfig predefined 2
    `),
  );
});

t.test('every box reads back to the value it was written from', async (t) => {
  const avcRecord = Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee);
  const boxes: Box[] = [
    { type: 'ftyp', majorBrand: 'iso6', minorVersion: 1, compatibleBrands: ['cmfc'] },
    {
      type: 'moov',
      boxes: [
        { type: 'mvhd', timescale: 1000, duration: 0, nextTrackId: 2 },
        {
          type: 'trak',
          boxes: [
            { type: 'tkhd', flags: 3, trackId: 1, duration: 0, volume: 0, width: 1280, height: 720 },
            { type: 'edts', boxes: [{ type: 'elst', entries: [{ segmentDuration: 0n, mediaTime: 1024n, rateInteger: 1, rateFraction: 0 }] }] },
            {
              type: 'mdia',
              boxes: [
                { type: 'mdhd', timescale: 15360, duration: 0, language: 'eng' },
                { type: 'hdlr', handlerType: 'vide', name: 'VideoHandler' },
                {
                  type: 'minf',
                  boxes: [
                    { type: 'vmhd' },
                    { type: 'dinf', boxes: [{ type: 'dref', entries: [{ type: 'url ', flags: 1 }] }] },
                    {
                      type: 'stbl',
                      boxes: [
                        {
                          type: 'stsd',
                          entries: [
                            {
                              type: 'avc1',
                              dataReferenceIndex: 1,
                              width: 1280,
                              height: 720,
                              compressorName: 'Weir',
                              boxes: [
                                { type: 'avcC', record: avcRecord },
                                { type: 'pasp', hSpacing: 1, vSpacing: 1 },
                                { type: 'btrt', bufferSizeDb: 0, maxBitrate: 3000000, avgBitrate: 2500000 },
                              ],
                            },
                            {
                              type: 'mp4a',
                              dataReferenceIndex: 1,
                              channelCount: 2,
                              sampleSize: 16,
                              sampleRate: 48000,
                              boxes: [{ type: 'esds', objectTypeIndication: 0x40, bufferSizeDb: 0, maxBitrate: 1, avgBitrate: 1, decoderSpecificInfo: Uint8Array.of(0x11, 0x90) }],
                            },
                          ],
                        },
                        { type: 'stts' },
                        { type: 'stsc' },
                        { type: 'stsz' },
                        { type: 'stco' },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        },
        { type: 'mvex', boxes: [{ type: 'trex', trackId: 1, defaultSampleDescriptionIndex: 1, defaultSampleDuration: 512, defaultSampleSize: 0, defaultSampleFlags: 0 }] },
      ],
    },
    { type: 'styp', majorBrand: 'msdh', minorVersion: 0, compatibleBrands: ['msdh', 'msix'] },
    {
      type: 'moof',
      boxes: [
        { type: 'mfhd', sequenceNumber: 3 },
        {
          type: 'traf',
          boxes: [
            { type: 'tfhd', trackId: 1, defaultBaseIsMoof: true, baseDataOffset: 5n, sampleDescriptionIndex: 1, defaultSampleDuration: 512, defaultSampleSize: 10, defaultSampleFlags: 0x01010000 },
            { type: 'tfdt', baseMediaDecodeTime: 123456789012n },
            { type: 'trun', version: 0, firstSampleFlags: 0x02000000, samples: [{ size: 4 }, { size: 9 }] },
          ],
        },
      ],
    },
    { type: 'mdat', data: Uint8Array.of(1, 2, 3) },
    { type: 'raw', fourcc: 'free', payload: Uint8Array.of(9, 9) },
  ];
  const bytes = serializeBoxes(boxes);
  const back = parseBoxes(bytes);
  t.same(back, boxes);
  t.equal(hex(serializeBoxes(back)), hex(bytes), 'writing what was read gives the same bytes');
});

t.test('a writer refuses values its box cannot hold, naming them', async (t) => {
  t.throws(() => serializeBoxes([{ type: 'trun', version: 0, samples: [{ compositionTimeOffset: -1 }] }]), /version 0 cannot hold negative offset -1/);
  t.throws(() => serializeBoxes([{ type: 'mdhd', timescale: 1, duration: 0, language: 'EN' }]), /three lowercase letters, received "EN"/);
  t.throws(() => serializeBoxes([{ type: 'trun', version: 1, samples: [{ size: 1 }, {}] }]), /sample 1 lacks size/);
});

t.test('a reader refuses truncated boxes with the sizes involved', async (t) => {
  const bytes = serializeBoxes([{ type: 'mfhd', sequenceNumber: 1 }]);
  t.throws(() => parseBoxes(bytes.subarray(0, 12)), /declares 16 bytes, only 12 remain/);
  t.throws(() => parseBoxes(Uint8Array.of(0, 0, 0, 4, 0x66, 0x72, 0x65, 0x65)), /declares size 4, less than its header/);
});

t.test('the writer keeps every byte when it grows past its first buffer', async (t) => {
  const samples = Array.from({ length: 300 }, (_, i) => ({ duration: 512, size: i, flags: 0x01010000, compositionTimeOffset: -i }));
  const bytes = serializeBoxes([{ type: 'trun', version: 1, samples }]);
  t.equal(bytes.length, 8 + 4 + 4 + 300 * 16);
  t.same(parseBoxes(bytes), [{ type: 'trun', version: 1, samples }]);
});

t.test('every other box writer matches its golden bytes', async (t) => {
  const matrix = '00010000 00000000 00000000 00000000 00010000 00000000 00000000 00000000 40000000';
  const cases: [string, Box, string][] = [
    ['mvhd', { type: 'mvhd', timescale: 1000, duration: 0, nextTrackId: 2 }, `
      0000006c 6d766864 00000000 # size 108, v0
      00000000 00000000 000003e8 00000000 # times, timescale 1000, duration 0
      00010000 0100 0000 00000000 00000000 # rate 1.0, volume 1.0, reserved
      ${matrix} 000000000000000000000000000000000000000000000000 # matrix, pre_defined
      00000002 # next track id`],
    ['tkhd', { type: 'tkhd', flags: 3, trackId: 1, duration: 0, volume: 0, width: 640, height: 360 }, `
      0000005c 746b6864 00000003 # size 92, v0, enabled|in_movie
      00000000 00000000 00000001 00000000 00000000 # times, track 1, reserved, duration
      00000000 00000000 0000 0000 0000 0000 # reserved, layer, group, volume, reserved
      ${matrix} 02800000 01680000 # matrix, 640.0 x 360.0`],
    ['vmhd', { type: 'vmhd' }, '00000014 766d6864 00000001 0000 000000000000 # flags 1, copy mode, opcolor'],
    ['smhd', { type: 'smhd' }, '00000010 736d6864 00000000 0000 0000 # balance 0'],
    ['dref', { type: 'dref', entries: [{ type: 'url ', flags: 1 }] }, '0000001c 64726566 00000000 00000001 # one entry\n 0000000c 75726c20 00000001 # url , self-contained'],
    ['stsd', { type: 'stsd', entries: [] }, '00000010 73747364 00000000 00000000'],
    ['stts', { type: 'stts' }, '00000010 73747473 00000000 00000000'],
    ['stsc', { type: 'stsc' }, '00000010 73747363 00000000 00000000'],
    ['stco', { type: 'stco' }, '00000010 7374636f 00000000 00000000'],
    ['stsz', { type: 'stsz' }, '00000014 7374737a 00000000 00000000 00000000 # sample size 0, count 0'],
    ['pasp', { type: 'pasp', hSpacing: 1, vSpacing: 1 }, '00000010 70617370 00000001 00000001'],
    ['btrt', { type: 'btrt', bufferSizeDb: 0, maxBitrate: 3_000_000, avgBitrate: 2_500_000 }, '00000014 62747274 00000000 002dc6c0 002625a0'],
    ['avcC', { type: 'avcC', record: Uint8Array.of(1, 0x64, 0, 0x1f, 0xff) }, '0000000d 61766343 01 64 00 1f ff # record kept as is'],
    ['avc1', { type: 'avc1', dataReferenceIndex: 1, width: 640, height: 360, compressorName: 'Weir', boxes: [] }, `
      00000056 61766331 000000000000 0001 # size 86, reserved, data reference 1
      0000 0000 000000000000000000000000 # pre_defined, reserved, pre_defined
      0280 0168 00480000 00480000 00000000 0001 # 640x360, 72 dpi, reserved, 1 frame
      04 57656972 ${'00'.repeat(27)} # compressor name "Weir" in 32 bytes
      0018 ffff # depth 24, pre_defined -1`],
    ['mp4a', { type: 'mp4a', dataReferenceIndex: 1, channelCount: 2, sampleSize: 16, sampleRate: 48000, boxes: [] }, `
      00000024 6d703461 000000000000 0001 # size 36, data reference 1
      0000000000000000 0002 0010 0000 0000 # reserved, 2 channels, 16 bits
      bb800000 # 48000.0`],
    ['elst', { type: 'elst', entries: [{ segmentDuration: 0n, mediaTime: 1024n, rateInteger: 1, rateFraction: 0 }] }, `
      00000024 656c7374 01000000 00000001 # v1, one entry
      0000000000000000 0000000000000400 0001 0000 # duration 0, media time 1024, rate 1.0`],
    ['styp', { type: 'styp', majorBrand: 'msdh', minorVersion: 0, compatibleBrands: ['msdh', 'msix'] }, '00000018 73747970 6d736468 00000000 6d736468 6d736978'],
    ['mvex', { type: 'mvex', boxes: [] }, '00000008 6d766578 # an empty container'],
    ['mdat', { type: 'mdat', data: Uint8Array.of(1, 2, 3) }, '0000000b 6d646174 010203'],
  ];
  for (const [name, box, bytes] of cases) {
    t.equal(hex(serializeBoxes([box])), golden(bytes), name);
    t.same(parseBoxes(serializeBoxes([box])), [box], `${name} reads back`);
  }
});

t.test('protection boxes match their golden bytes and read back (ISO/IEC 23001-7)', async (t) => {
  const kid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const iv = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const clearKey = Uint8Array.from(Buffer.from('1077efecc0b24d02ace33c1e52e2fb4b', 'hex'));
  const kidHex = Buffer.from(kid).toString('hex');
  const cases: [string, Box, string][] = [
    ['frma', { type: 'frma', dataFormat: 'avc1' }, '0000000c 66726d61 61766331'],
    ['schm', { type: 'schm', schemeType: 'cbcs', schemeVersion: 0x00010000 }, '00000014 7363686d 00000000 63626373 00010000 # cbcs 1.0'],
    ['tenc cenc', { type: 'tenc', version: 0, cryptByteBlock: 0, skipByteBlock: 0, isProtected: 1, perSampleIvSize: 8, kid, constantIv: null }, `
      00000020 74656e63 00000000 # v0
      00 00 01 08 # reserved, reserved, protected, 8-byte IVs
      ${kidHex}`],
    ['tenc cbcs', { type: 'tenc', version: 1, cryptByteBlock: 1, skipByteBlock: 9, isProtected: 1, perSampleIvSize: 0, kid, constantIv: iv }, `
      00000031 74656e63 01000000 # v1
      00 19 01 00 # reserved, pattern 1:9, protected, no per-sample IV
      ${kidHex} 10 ${Buffer.from(iv).toString('hex')} # KID, constant IV of 16 bytes`],
    ['pssh', { type: 'pssh', version: 1, systemId: clearKey, kids: [kid], data: new Uint8Array(0) }, `
      00000034 70737368 01000000 # v1
      1077efecc0b24d02ace33c1e52e2fb4b # ClearKey system id
      00000001 ${kidHex} 00000000 # one KID, no data`],
    ['saiz', { type: 'saiz', defaultSize: 0, sampleCount: 2, sizes: [16, 22] }, '00000013 7361697a 00000000 00 00000002 10 16'],
    ['saio', { type: 'saio', offsets: [96] }, '00000014 7361696f 00000000 00000001 00000060'],
    ['sinf', { type: 'sinf', boxes: [{ type: 'frma', dataFormat: 'mp4a' }, { type: 'schi', boxes: [] }] }, '0000001c 73696e66 0000000c 66726d61 6d703461 00000008 73636869'],
  ];
  for (const [name, box, bytes] of cases) {
    t.equal(hex(serializeBoxes([box])), golden(bytes), name);
    t.same(parseBoxes(serializeBoxes([box])), [box], `${name} reads back`);
  }
  const senc: Box = { type: 'senc', ivSize: 8, useSubsamples: true, samples: [{ iv: iv.subarray(0, 8), subsamples: [{ clear: 37, protected: 1600 }, { clear: 5, protected: 32 }] }] };
  const sencBytes = serializeBoxes([senc]);
  t.equal(hex(sencBytes), golden(`
    00000026 73656e63 00000002 # size 38, flags: subsamples
    00000001 a0a1a2a3a4a5a6a7  # one sample, its 8-byte IV
    0002 0025 00000640 0005 00000020 # two subsamples: 37 clear + 1600 protected, 5 + 32`));
  const raw = parseBoxes(sencBytes)[0] as { type: 'raw'; payload: Uint8Array };
  t.same(readSenc(raw.payload, 8), senc, 'senc reads back given the IV size from tenc');
  t.throws(() => serializeBoxes([{ type: 'tenc', version: 0, cryptByteBlock: 0, skipByteBlock: 0, isProtected: 1, perSampleIvSize: 8, kid: kid.subarray(0, 8), constantIv: null }]), /KID must be 16 bytes, received 8/);
});
