import type { Logger } from '../../logger.js';
import { pictureSize, tileFor, type ThumbnailCutter } from './thumbnail-cutter.js';

/** Broadcast time, as the live pipeline keeps it: 90 kHz ticks. */
export const thumbnailTimescale = 90_000;

/** One scrubbing thumbnail of a live broadcast. */
export type LiveThumbnail = {
  /** Its number in the window's sequence (the HLS media sequence). */
  number: number;
  /** Its slot: the interval-long stretch of its publisher session it starts (DASH $Number$, the file name). */
  slot: number;
  /** Where it starts on the broadcast timeline (ticks): the start of its slot. */
  startTicks: number;
  durationTicks: number;
  /** Program date-time of its start. */
  pdtMs: number;
  /** The publisher session it belongs to, as segments name it (a DASH Period; an HLS discontinuity between sessions). */
  sessionStartMs: number;
  tile: { width: number; height: number };
  bytes: Uint8Array;
};

export type LiveThumbnailsOptions = {
  intervalMs: number;
  windowSeconds: number;
  tileWidth: number;
  cut: ThumbnailCutter;
  log: Logger;
};

/**
 * Thumbnails that follow the live edge: each publisher session is cut into slots of `intervalMs`
 * from its start, and the first keyframe in each slot is decoded into one JPEG tile (one ffmpeg
 * run, off the packaging path: the keyframe is handed over and the packager goes on). A slot
 * whose keyframe arrives while the previous cut runs, or that has no keyframe, is covered by the
 * thumbnail before it, so a slow machine cuts fewer thumbnails rather than queueing them. Every
 * slot in the window can be asked for by its number (what DASH players compute from a
 * number-based template). Kept for the DVR window, in memory.
 */
export class LiveThumbnails {
  private readonly items: LiveThumbnail[] = [];
  private nextNumber = 1;
  private lastSlot: number | null = null;
  private lastSessionStartMs = 0;
  private cutting: Promise<void> | null = null;
  private failures = 0;
  /** Discontinuities (publisher sessions) that slid out of the window: EXT-X-DISCONTINUITY-SEQUENCE. */
  discontinuitySequence = 0;
  /** Changes with every thumbnail added or the end: renderings are cached by it. */
  version = 0;
  isEnded = false;

  constructor(private readonly options: LiveThumbnailsOptions) {}

  get intervalTicks(): number {
    return Math.round((this.options.intervalMs * thumbnailTimescale) / 1000);
  }

  /** The newest keyframe seen, for a full-size still (catalog art). */
  private newest: { avcC: Uint8Array; sample: Uint8Array } | null = null;

  /** A keyframe at broadcast time `ticks` (whose program date-time is `pdtMs`), with its avcC record. */
  keyframe(avcC: Uint8Array, sample: Uint8Array, ticks: number, pdtMs: number, sessionStartMs: number): void {
    this.newest = { avcC, sample };
    if (this.isEnded || this.cutting) return;
    const sessionStart = Math.round((sessionStartMs * thumbnailTimescale) / 1000);
    const slot = Math.max(0, Math.floor((ticks - sessionStart) / this.intervalTicks));
    if (this.lastSlot !== null && slot <= this.lastSlot && sessionStartMs === this.lastSessionStartMs) return;
    this.lastSlot = slot;
    this.lastSessionStartMs = sessionStartMs;
    const startTicks = sessionStart + slot * this.intervalTicks;
    // The slot's program date-time: the keyframe's, moved back to the slot start.
    const slotPdtMs = pdtMs - ((ticks - startTicks) * 1000) / thumbnailTimescale;
    let tile: { width: number; height: number };
    try {
      tile = tileFor(pictureSize(avcC), this.options.tileWidth);
    } catch (error) {
      this.failed(error);
      return;
    }
    this.cutting = this.options
      .cut(avcC, sample, tile)
      .then((bytes) => this.add({ number: 0, slot, startTicks, durationTicks: this.intervalTicks, pdtMs: Math.round(slotPdtMs), sessionStartMs, tile, bytes }))
      .catch((error: unknown) => this.failed(error))
      .finally(() => (this.cutting = null));
  }

  private add(thumbnail: LiveThumbnail): void {
    if (this.isEnded) return;
    const previous = this.items.at(-1);
    // The one before lasts until this one starts: several slots where keyframes were scarce, less
    // where its publisher session ended (media time runs on across sessions).
    if (previous) previous.durationTicks = Math.max(1, thumbnail.startTicks - previous.startTicks);
    this.items.push({ ...thumbnail, number: this.nextNumber++ });
    const oldest = thumbnail.startTicks - this.options.windowSeconds * thumbnailTimescale;
    while (this.items.length > 1 && this.items[0]!.startTicks + this.items[0]!.durationTicks <= oldest) {
      const gone = this.items.shift()!;
      if (this.items[0]!.sessionStartMs !== gone.sessionStartMs) this.discontinuitySequence++;
    }
    this.version++;
  }

  private failed(error: unknown): void {
    // One line for the first failure and one per hundred after: a broken cut must not flood the log.
    if (this.failures++ % 100 === 0) this.options.log.warn({ err: error, failures: this.failures }, 'a live thumbnail could not be cut');
  }

  /** Before the stream is offered, the broadcast's clock anchor may still move: program date-times follow it. */
  restamp(wallClockAt: (ticks: number) => number): void {
    for (const item of this.items) item.pdtMs = Math.round(wallClockAt(item.startTicks));
    this.version++;
  }

  /** The thumbnails in the window, oldest first. */
  list(): readonly LiveThumbnail[] {
    return this.items;
  }

  /**
   * The thumbnail showing a slot of a publisher session: the one that starts it, or the one
   * before that covers it. Undefined for slots outside the window or not reached yet.
   */
  atSlot(sessionStartMs: number, slot: number): LiveThumbnail | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      if (item.sessionStartMs !== sessionStartMs || item.slot > slot) continue;
      const slotStart = item.startTicks + (slot - item.slot) * this.intervalTicks;
      return slotStart < item.startTicks + item.durationTicks ? item : undefined;
    }
    return undefined;
  }

  /** A JPEG of the newest keyframe at the picture's own size (null before the first keyframe). */
  async still(): Promise<Uint8Array | null> {
    const newest = this.newest;
    return newest ? this.options.cut(newest.avcC, newest.sample, pictureSize(newest.avcC)) : null;
  }

  /** Resolves once no cut is under way. */
  async settled(): Promise<void> {
    await this.cutting;
  }

  /** The broadcast is over: no more thumbnails, and the image playlist closes. Waits for a cut under way. */
  async end(): Promise<void> {
    this.isEnded = true;
    this.version++;
    await this.settled();
  }
}
