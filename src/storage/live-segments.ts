import type { Logger } from '../logger.js';
import { liveInitName, liveSegmentName } from '../layout.js';
import type { ObjectStore } from './objects.js';

/** A completed live segment as the broadcast hands it over (declared here, by its user). */
export type LiveSegmentCopy = { renditionId: string; msn: number; bytes: Uint8Array; initVersion: number; init: Uint8Array | null };

export function liveSegmentKey(streamId: string, broadcast: number, renditionId: string, file: string): string {
  return `streams/${streamId}/broadcasts/${broadcast}/${renditionId}/${file}`;
}

const streamPrefix = (streamId: string) => `streams/${streamId}/`;

/**
 * Writes each completed live segment (and, once per version, its init segment) through to the
 * bucket, for DVR and archive beyond the ingest node. Off the live path: the broadcast only
 * queues; a few writes run at once, and when the bucket falls behind by `maxPending` segments
 * the newest are dropped and counted, never held in memory without bound.
 */
export function liveWriteThrough(store: ObjectStore, log: Logger, options: { maxPending: number; concurrency: number } = { maxPending: 200, concurrency: 4 }) {
  const queue: { key: string; bytes: Uint8Array; contentType: string }[] = [];
  /** Writes under way, by key: a deleted stream's are waited for before its objects are removed. */
  const running = new Map<string, Promise<void>>();
  /** Streams deleted here: what their broadcasts still hand over is not written. */
  const removed = new Set<string>();
  let dropped = 0;
  let lastWarning = 0;
  const written = new Set<string>();
  const pump = () => {
    while (running.size < options.concurrency && queue.length > 0) {
      const next = queue.shift()!;
      const write = store
        .putBytes(next.key, next.bytes, next.contentType)
        .catch((error: unknown) => {
          if (Date.now() - lastWarning > 60_000) {
            lastWarning = Date.now();
            log.warn({ err: error, key: next.key }, 'could not write a live segment through to the bucket');
          }
        })
        .finally(() => {
          running.delete(next.key);
          pump();
        });
      running.set(next.key, write);
    }
  };
  const enqueue = (key: string, bytes: Uint8Array, contentType: string) => {
    if (queue.length >= options.maxPending) {
      dropped++;
      if (Date.now() - lastWarning > 60_000) {
        lastWarning = Date.now();
        log.warn({ dropped }, 'the bucket is behind the live segments; dropping the newest');
      }
      return;
    }
    queue.push({ key, bytes, contentType });
    pump();
  };
  return {
    sink:
      (streamId: string, broadcast: number) =>
      (segment: LiveSegmentCopy): void => {
        if (removed.has(streamId)) return;
        const initKey = liveSegmentKey(streamId, broadcast, segment.renditionId, liveInitName(segment.initVersion));
        if (segment.init && !written.has(initKey)) {
          if (written.size >= 10_000) written.clear();
          written.add(initKey);
          enqueue(initKey, segment.init, 'video/mp4');
        }
        enqueue(liveSegmentKey(streamId, broadcast, segment.renditionId, liveSegmentName(segment.msn)), segment.bytes, 'video/iso.segment');
      },
    /**
     * A deleted stream: its queued segments are dropped, later ones refused, and once the writes
     * under way have landed (a removal before them would leave them behind) every broadcast of it
     * is removed from the bucket. Returns how many objects.
     */
    async remove(streamId: string): Promise<number> {
      if (removed.size >= 10_000) removed.clear();
      removed.add(streamId);
      const prefix = streamPrefix(streamId);
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.key.startsWith(prefix)) queue.splice(i, 1);
      await Promise.all([...running].filter(([key]) => key.startsWith(prefix)).map(([, write]) => write));
      return store.removePrefix(prefix);
    },
    /** Segments dropped because the bucket fell behind. */
    dropped: () => dropped,
    pending: () => queue.length + running.size,
  };
}
