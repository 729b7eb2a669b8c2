import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromCallback, fromPromise, type EventObject } from 'xstate';
import type { PublishedRendition } from '../catalog/titles.js';
import { hideServerPaths, toCodedError, WeirError } from '../errors.js';
import type { Logger } from '../logger.js';
import { buildEncodeArgs, type EncodeSettings } from '../pipeline/encode/encode.js';
import { FfmpegError, killOrphan, runFfmpeg, type MediaTools } from '../pipeline/encode/ffmpeg.js';
import { measureBandwidth, type PackagedRendition } from '../pipeline/manifest/packaged-rendition.js';
import { packageVod } from '../pipeline/vod/package-vod.js';
import { probeSource } from '../pipeline/encode/probe.js';
import type { KeyStore } from '../catalog/keys.js';
import type { KeySource } from '../drm/keys.js';
import type { EncodeSlots } from './encode-slots.js';
import type { StageInput, TitleEvent } from './title.machine.js';
import { renditionsFile, titlePaths } from '../layout.js';

export type TitleStageDeps = {
  dataDir: string;
  keys: KeyStore;
  keySource: KeySource;
  tools: MediaTools;
  encode: EncodeSettings;
  log: Logger;
  /** Encodes take a slot here first; the others wait. */
  slots: EncodeSlots;
  /** Told when an encode run ends (metrics); not for a cancelled one. */
  onEncodeFinished?: (outcome: 'encoded' | 'failed', ms: number) => void;
};

function publish(rendition: PackagedRendition): PublishedRendition {
  const { peak, average } = measureBandwidth(rendition);
  const video = rendition.kind === 'video';
  return {
    id: rendition.id,
    kind: rendition.kind,
    width: video ? rendition.width : null,
    height: video ? rendition.height : null,
    bandwidth: peak,
    averageBandwidth: average,
    codecs: rendition.codec,
    frameRate: rendition.frameRate ? Math.round((rendition.frameRate.num / rendition.frameRate.den) * 1000) / 1000 : null,
  };
}

/** The real implementations of the title machine's stages, all safe to restart. */
export function createTitleStages(deps: TitleStageDeps) {
  const logFor = (titleId: string, stage: string) => deps.log.child({ titleId, stage });

  return {
    probe: fromPromise<import('../pipeline/encode/probe.js').SourceFacts, { titleId: string; sourcePath: string }>(({ input, signal }) =>
      probeSource({ ffprobe: deps.tools.ffprobe, path: input.sourcePath, log: logFor(input.titleId, 'probe'), signal }),
    ),

    encode: fromCallback<EventObject, StageInput>(({ input, sendBack }) => {
      const send = (event: TitleEvent) => sendBack(event);
      const paths = titlePaths(deps.dataDir, input.titleId);
      const log = logFor(input.titleId, 'encode');
      const controller = new AbortController();
      const durationMicros = input.facts.durationMs * 1000;
      let lastOutMicros = 0;
      let lastSentFraction = -1;
      let started = Date.now();
      const encodeNow = async () => {
        await mkdir(paths.work, { recursive: true });
        await killOrphan(paths.pidFile, log);
        await rm(paths.encodingTmp, { recursive: true, force: true });
        await mkdir(paths.encodingTmp, { recursive: true });
        started = Date.now();
        log.info({ renditions: input.ladder.video.map((r) => `${r.width}x${r.height}@${r.bitrate}`), audio: input.ladder.audio !== null }, 'encoding');
        await runFfmpeg({
          binary: deps.tools.ffmpeg,
          args: buildEncodeArgs({ source: input.sourcePath, outDir: paths.encodingTmp, ladder: input.ladder, settings: deps.encode }),
          log,
          signal: controller.signal,
          pidFile: paths.pidFile,
          onProgressMicros: (micros) => {
            lastOutMicros = micros;
            const fraction = Math.min(0.99, micros / durationMicros);
            // Persisting every tick would be noise: report whole percents.
            if (fraction - lastSentFraction >= 0.01) {
              lastSentFraction = fraction;
              send({ type: 'ENCODE_PROGRESS', fraction });
            }
          },
        });
        // A source whose header promises more than its data holds decodes short without an error.
        if (lastOutMicros > 0 && lastOutMicros < durationMicros * 0.9) {
          throw new WeirError(
            'SOURCE_UNREADABLE',
            `The source is truncated or corrupt: it declares ${(durationMicros / 1e6).toFixed(1)} s but only ${(lastOutMicros / 1e6).toFixed(1)} s could be decoded.`,
          );
        }
        await rename(paths.encodingTmp, paths.encoded);
        log.info({ ms: Date.now() - started }, 'encoded');
        deps.onEncodeFinished?.('encoded', Date.now() - started);
        send({ type: 'ENCODED' });
      };
      void (async () => {
        if (existsSync(paths.encoded)) {
          log.info('encoded renditions already on disk; not encoding again');
          send({ type: 'ENCODED' });
          return;
        }
        if (deps.slots.full) log.info({ running: deps.slots.active, waiting: deps.slots.queued }, 'waiting for an encode slot');
        started = Date.now();
        const release = await deps.slots.acquire(controller.signal);
        try {
          await encodeNow();
        } finally {
          release();
        }
      })().catch((error: unknown) => {
        if (controller.signal.aborted) return;
        deps.onEncodeFinished?.('failed', Date.now() - started);
        if (error instanceof WeirError) {
          send({ type: 'ENCODE_FAILED', error: toCodedError(error, 'ENCODE_FAILED'), transient: false });
          return;
        }
        const transient = error instanceof FfmpegError ? error.transient : true;
        const code = error instanceof FfmpegError && !transient ? 'SOURCE_UNREADABLE' : 'ENCODE_FAILED';
        const message = error instanceof Error ? error.message : String(error);
        log.warn({ err: message, transient }, 'encode failed');
        send({ type: 'ENCODE_FAILED', error: { code, message: hideServerPaths(`Encoding failed: ${message}`) }, transient });
      });
      return () => controller.abort();
    }),

    package: fromPromise<PublishedRendition[], StageInput>(async ({ input, signal }) => {
      const paths = titlePaths(deps.dataDir, input.titleId);
      const log = logFor(input.titleId, 'package');
      const done = input.protection === 'none' ? paths.packaged : paths.keyed;
      if (!existsSync(done) && !existsSync(paths.media)) {
        await rm(paths.packagingTmp, { recursive: true, force: true });
        const started = Date.now();
        // The keying stage fetched or made the key; the store hands back the same one.
        const protection = input.protection === 'none' ? null : { scheme: input.protection, key: await deps.keys.getOrCreate(deps.keySource, input.titleId, 0, input.protection) };
        const renditions = await packageVod({
          encodedDir: paths.encoded,
          outDir: paths.packagingTmp,
          protection,
          ladder: input.ladder,
          segmentSeconds: deps.encode.segmentSeconds,
          ffmpeg: deps.tools.ffmpeg,
          log,
          signal,
        });
        await writeFile(join(paths.packagingTmp, renditionsFile), JSON.stringify(renditions.map(publish)));
        await rename(paths.packagingTmp, done);
        log.info({ ms: Date.now() - started, segments: renditions[0]?.segments.length, protection: input.protection }, 'packaged');
      }
      const dir = existsSync(done) ? done : paths.media;
      return JSON.parse(await readFile(join(dir, renditionsFile), 'utf8')) as PublishedRendition[];
    }),

    key: fromPromise<void, StageInput>(async ({ input }) => {
      if (input.protection === 'none') return;
      const paths = titlePaths(deps.dataDir, input.titleId);
      if (existsSync(paths.keyed) || existsSync(paths.media)) return;
      // A key service (CPIX) may be remote and slow: the key is fetched once, before packaging needs it.
      const key = await deps.keys.getOrCreate(deps.keySource, input.titleId, 0, input.protection);
      logFor(input.titleId, 'keying').info({ protection: input.protection, kid: Buffer.from(key.kid).toString('hex') }, 'keyed');
    }),

    publish: fromPromise<void, StageInput>(async ({ input }) => {
      const paths = titlePaths(deps.dataDir, input.titleId);
      // A protected title publishes only its protected set; the clear one is discarded with the work dir.
      const ready = input.protection === 'none' ? paths.packaged : paths.keyed;
      if (!existsSync(paths.media)) await rename(ready, paths.media);
      // Intermediates are no longer needed once the segment set is in place; the source stays.
      await rm(paths.work, { recursive: true, force: true });
    }),
  };
}
