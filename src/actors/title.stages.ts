import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromCallback, fromPromise, type EventObject } from 'xstate';
import type { PublishedRendition } from '../catalog/titles.js';
import type { CodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EncodeSettings } from '../pipeline/encode/encode.js';
import { encodeFailure, encodeTitle } from '../pipeline/encode/encode-title.js';
import type { MediaTools } from '../pipeline/encode/ffmpeg.js';
import type { EncodeJobStore } from '../catalog/encode-jobs.js';
import { measureBandwidth, type PackagedRendition } from '../pipeline/manifest/packaged-rendition.js';
import { packageVod } from '../pipeline/vod/package-vod.js';
import { probeSource } from '../pipeline/encode/probe.js';
import type { KeyStore } from '../catalog/keys.js';
import type { KeySource } from '../drm/keys.js';
import type { EncodeSlots } from './encode-slots.js';
import type { StageInput, TitleEvent } from './title.machine.js';
import { renditionsFile, titlePaths } from '../layout.js';

export type TitleStageDeps = {
  /** Copies a published set elsewhere (object storage) before the title is ready; absent on local disk only. */
  publishMedia?: (titleId: string, mediaDir: string) => Promise<void>;
  dataDir: string;
  keys: KeyStore;
  keySource: KeySource;
  tools: MediaTools;
  encode: EncodeSettings;
  log: Logger;
  /** Encodes take a slot here first; the others wait. */
  slots: EncodeSlots;
  /** When set, encodes are queued for `weir worker` processes instead of run here. */
  externalQueue?: { jobs: EncodeJobStore; pollMs: number };
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
      const job = { sourcePath: input.sourcePath, ladder: input.ladder, durationMs: input.facts.durationMs };
      if (existsSync(paths.encoded)) {
        log.info('encoded renditions already on disk; not encoding again');
        queueMicrotask(() => send({ type: 'ENCODED' }));
        return () => undefined;
      }
      const fail = (error: unknown) => {
        if (controller.signal.aborted) return;
        const { error: coded, transient } = encodeFailure(error);
        log.warn({ err: coded.message, transient }, 'encode failed');
        send({ type: 'ENCODE_FAILED', error: coded, transient });
      };
      const queue = deps.externalQueue;
      if (queue) {
        // A `weir worker` encodes: queue the job and follow it (workers are other processes).
        queue.jobs.enqueue(input.titleId, JSON.stringify(job), Date.now());
        let lastProgress = -1;
        let doneWithoutOutput = 0;
        const follow = setInterval(() => {
          const current = queue.jobs.get(input.titleId);
          if (!current) return;
          if (current.state === 'running' && current.progress > lastProgress) {
            lastProgress = current.progress;
            send({ type: 'ENCODE_PROGRESS', fraction: current.progress });
          } else if (current.state === 'done') {
            // The worker marks the job done, then moves its output in: give the move a moment.
            if (existsSync(paths.encoded)) {
              clearInterval(follow);
              send({ type: 'ENCODED' });
            } else if (++doneWithoutOutput * queue.pollMs > 10_000) {
              clearInterval(follow);
              fail(new Error('the worker reported done but its renditions never appeared'));
            }
          } else if (current.state === 'failed') {
            clearInterval(follow);
            const coded = JSON.parse(current.error ?? '{}') as { error: CodedError; transient: boolean };
            send({ type: 'ENCODE_FAILED', error: coded.error, transient: coded.transient });
          }
        }, queue.pollMs);
        return () => {
          clearInterval(follow);
          controller.abort();
        };
      }
      let started = Date.now();
      void (async () => {
        if (deps.slots.full) log.info({ running: deps.slots.active, waiting: deps.slots.queued }, 'waiting for an encode slot');
        const release = await deps.slots.acquire(controller.signal);
        try {
          started = Date.now();
          await encodeTitle({
            tools: deps.tools,
            settings: deps.encode,
            input: job,
            paths: { work: paths.work, tmp: paths.encodingTmp, encoded: paths.encoded, pidFile: paths.pidFile },
            log,
            signal: controller.signal,
            onProgress: (fraction) => send({ type: 'ENCODE_PROGRESS', fraction }),
          });
        } finally {
          release();
        }
        log.info({ ms: Date.now() - started }, 'encoded');
        deps.onEncodeFinished?.('encoded', Date.now() - started);
        send({ type: 'ENCODED' });
      })().catch((error: unknown) => {
        if (controller.signal.aborted) return;
        deps.onEncodeFinished?.('failed', Date.now() - started);
        fail(error);
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
      await deps.publishMedia?.(input.titleId, paths.media);
      // Intermediates are no longer needed once the segment set is in place; the source stays.
      await rm(paths.work, { recursive: true, force: true });
    }),
  };
}
