import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromPromise, type SnapshotFrom } from 'xstate';
import type { SnapshotStore } from '../catalog/snapshots.js';
import type { StreamCatalog, StreamRecord, StreamView } from '../catalog/streams.js';
import type { PublishAuthority, PublishHandler, PublishRefusal, PublishRequest } from '../ingest/contract.js';
import type { Logger } from '../logger.js';
import { LiveBroadcast, type CompletedLiveSegment } from '../pipeline/live/broadcast.js';
import type { KeyStore } from '../catalog/keys.js';
import type { KeySource } from '../drm/keys.js';
import type { SourcedKey } from '../pipeline/cmaf/encrypt.js';
import type { LiveProtection } from '../pipeline/live/packager.js';
import type { LiveTiming } from '../pipeline/live/packager.js';
import type { ThumbnailCutter } from '../pipeline/live/thumbnail-cutter.js';
import { ActorRegistry, type ActorOwnership } from './actor-registry.js';
import { publicStreamState, streamMachine, streamMachineVersion, type ArchiveInput, type FinishInput, type KeyInput, type ResetKeyParams, type StreamEvent } from './stream.machine.js';
import { streamPaths } from '../layout.js';

type StreamMachine = typeof streamMachine;

export type StreamRegistryDeps = {
  catalog: StreamCatalog;
  snapshots: SnapshotStore;
  dataDir: string;
  log: Logger;
  timing: LiveTiming;
  dvrWindowSeconds: number;
  hlsAudio: 'muxed' | 'separate';
  /** Live scrubbing thumbnails: one every `intervalMs`, cut by `cut`; null for none. */
  thumbnails: { intervalMs: number; tileWidth: number; cut: ThumbnailCutter } | null;
  stallTimeoutMs: number;
  /** For ladder-mode streams. */
  ffmpeg: string;
  ladderPreset: string;
  /** Turns a finished broadcast's recording into a title; returns its id. */
  archive(stream: StreamRecord, recordingDir: string, broadcast: number): Promise<string | null>;
  keys: KeyStore;
  keySource: KeySource;
  /** With several nodes on one catalog: which one runs each stream. */
  ownership?: ActorOwnership | null;
  /** Completed segments of each broadcast, to write through to object storage; absent on local disk only. */
  segmentSink?: (streamId: string, broadcast: number) => (segment: CompletedLiveSegment) => void;
};

/** Key periods are scoped to a broadcast, so no two broadcasts of a stream share a key. */
const periodsPerBroadcast = 1_000_000;

const snapshotKind = 'stream';

type Publisher = { sessionId: string; disconnect: () => void };

function viewOf(snapshot: SnapshotFrom<StreamMachine>): StreamView {
  return { state: publicStreamState(snapshot.value), error: snapshot.context.error, archiveTitleIds: snapshot.context.archiveTitleIds };
}

/**
 * Holds one actor per live stream (on the shared actor registry), the broadcast each is
 * packaging, and who is publishing. It provides the machine's side effects (key preparation,
 * finishing, archiving, cutting a publisher, replacing the key) and is the publish authority of
 * RTMP and SRT: a synchronous, in-memory decision.
 */
export class StreamRegistry implements PublishAuthority {
  private readonly actors: ActorRegistry<StreamMachine, StreamView>;
  private readonly broadcasts = new Map<string, { number: number; broadcast: LiveBroadcast }>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly byKey = new Map<string, string>();
  /** Prepared live keys by stream and period: parts are encrypted on the ingest path, which cannot wait. */
  private readonly keyring = new Map<string, Map<number, SourcedKey>>();
  /** Emits ('change', streamId, view) after each persisted transition. */
  readonly events: EventEmitter;
  private stopping = false;

  constructor(private readonly deps: StreamRegistryDeps) {
    const machine = streamMachine.provide({
      actors: {
        prepareKey: fromPromise<void, KeyInput>(({ input }) => this.prepareKey(input)),
        finishBroadcast: fromPromise<void, FinishInput>(({ input }) => this.finishBroadcast(input)),
        archiveBroadcast: fromPromise<string | null, ArchiveInput>(({ input }) => this.archiveBroadcast(input)),
      },
      actions: {
        disconnectPublisher: ({ context }) => {
          const silentMs = Date.now() - (this.broadcasts.get(context.streamId)?.broadcast.lastMediaAt ?? 0);
          this.deps.log.warn({ streamId: context.streamId, silentMs }, 'publisher stalled: no media; disconnecting');
          this.publishers.get(context.streamId)?.disconnect();
        },
        replaceStreamKey: ({ context }, params: ResetKeyParams) => this.replaceStreamKey(context.streamId, params),
      },
      // The watchdog hears MEDIA_FLOWING at most once a second, up to a second before the last
      // media: a second more makes "silent this long" hold, never less.
      delays: { stallTimeout: deps.stallTimeoutMs + 1000 },
    });
    this.actors = new ActorRegistry<StreamMachine, StreamView>(
      { kind: snapshotKind, machine, machineVersion: streamMachineVersion, viewOf, saveView: (streamId, view) => deps.catalog.updateView(streamId, view) },
      deps.snapshots,
      deps.log,
      deps.ownership ?? null,
    );
    this.events = this.actors.events;
  }

  private input(stream: StreamRecord) {
    return { streamId: stream.id, reconnectWindowMs: stream.reconnectWindowSeconds * 1000, archive: stream.archive };
  }

  create(stream: StreamRecord): void {
    this.byKey.set(stream.streamKey, stream.id);
    this.actors.start(stream.id, { input: this.input(stream) });
  }

  /** Fetches (or makes) a key ahead of need; the stream refuses publishing until its first is ready. Never fails: a failure is logged and asked for again. */
  private async prepareKey({ streamId, broadcast, period }: KeyInput): Promise<void> {
    const stream = this.deps.catalog.get(streamId);
    if (!stream || (stream.protection !== 'cenc' && stream.protection !== 'cbcs')) return;
    const absolute = broadcast * periodsPerBroadcast + period;
    const ring = this.keyring.get(streamId) ?? new Map<number, SourcedKey>();
    this.keyring.set(streamId, ring);
    if (ring.has(absolute)) return;
    try {
      ring.set(absolute, await this.deps.keys.getOrCreate(this.deps.keySource, streamId, absolute, stream.protection));
    } catch (error) {
      this.deps.log.error({ streamId, period: absolute, err: (error as Error).message }, 'could not prepare a live key');
    }
  }

  private liveProtection(stream: StreamRecord, broadcast: number): LiveProtection | null {
    if (stream.protection !== 'cenc' && stream.protection !== 'cbcs') return null;
    return {
      scheme: stream.protection,
      rotationSegments: stream.keyRotationSegments,
      keyFor: (period) => this.keyring.get(stream.id)?.get(broadcast * periodsPerBroadcast + period),
      onPeriod: (period) => this.send(stream.id, { type: 'KEY_PERIOD_STARTED', period }),
    };
  }

  /** Restores every stream; a broadcast cut short by the restart is finished (and archived). */
  restoreAll(): number {
    let restored = 0;
    // Not those running already (a takeover pass), nor those another live node runs.
    for (const stored of this.actors.restorable()) {
      const stream = this.deps.catalog.get(stored.id);
      if (!stream) {
        this.actors.forget(stored.id);
        continue;
      }
      const usable = stored.machineVersion === streamMachineVersion;
      this.byKey.set(stream.streamKey, stream.id);
      this.actors.start(stream.id, usable ? { input: this.input(stream), snapshot: stored.snapshot, claimed: true } : { input: this.input(stream), claimed: true });
      const state = this.state(stream.id);
      if (state === 'starting' || state === 'live' || state === 'reconnecting') this.send(stream.id, { type: 'SERVER_RESTARTED' });
      restored++;
    }
    return restored;
  }

  state(streamId: string): string | undefined {
    const snapshot = this.actors.snapshot(streamId);
    return snapshot ? publicStreamState(snapshot.value) : undefined;
  }

  has(streamId: string): boolean {
    return this.actors.has(streamId);
  }

  /** The broadcast players read: the current one, or the last one until the next begins. */
  broadcast(streamId: string): LiveBroadcast | undefined {
    return this.broadcasts.get(streamId)?.broadcast;
  }

  isPlayable(streamId: string): boolean {
    const state = this.state(streamId);
    return (state === 'live' || state === 'reconnecting') && this.broadcasts.has(streamId);
  }

  /** The SRT passphrase of the stream a key publishes to (null: clear), or undefined for unknown keys. */
  srtPassphraseFor(streamKey: string): string | null | undefined {
    const streamId = this.byKey.get(streamKey);
    return streamId ? (this.deps.catalog.get(streamId)?.srtPassphrase ?? null) : undefined;
  }

  /** The session id of the stream's publisher (RTMP session, or `srt-<socket id>`). */
  publisherSession(streamId: string): string | undefined {
    return this.publishers.get(streamId)?.sessionId;
  }

  isPublishing(streamId: string): boolean {
    return this.publishers.has(streamId);
  }

  private send(streamId: string, event: StreamEvent): void {
    this.actors.send(streamId, event);
  }

  authorize(request: PublishRequest, disconnect: () => void): PublishHandler | PublishRefusal {
    if (this.stopping) return { refused: 'the server is stopping', code: 'PUBLISH_UNAVAILABLE' };
    if (request.app !== 'live') return { refused: `unknown application "${request.app.slice(0, 64)}"; publish to /live/<stream key>`, code: 'PUBLISH_APP_UNKNOWN' };
    const streamId = this.byKey.get(request.streamKey);
    if (!streamId) return { refused: 'unknown or reset stream key', code: 'PUBLISH_KEY_UNKNOWN' };
    if (this.publishers.has(streamId)) return { refused: 'the stream is already being published', code: 'PUBLISH_CONFLICT' };
    const snapshot = this.actors.snapshot(streamId)!;
    if (snapshot.matches('ended') && !snapshot.matches({ ended: 'done' })) {
      return { refused: 'the previous broadcast is still being finished; publish again in a moment', code: 'PUBLISH_UNAVAILABLE' };
    }
    const stream = this.deps.catalog.get(streamId)!;
    const log = this.deps.log.child({ streamId, session: request.sessionId });
    const continuing = snapshot.matches('reconnecting');
    let current = this.broadcasts.get(streamId);
    if (!continuing || !current) {
      const number = snapshot.context.broadcast + 1;
      const protection = this.liveProtection(stream, number);
      if (protection && !protection.keyFor(0)) {
        this.send(streamId, { type: 'KEY_NEEDED' });
        return { refused: 'the stream keys are being prepared; publish again in a moment', code: 'PUBLISH_UNAVAILABLE' };
      }
      const broadcast = new LiveBroadcast({
        video: stream.mode === 'ladder' ? { mode: 'ladder', ffmpeg: this.deps.ffmpeg, preset: this.deps.ladderPreset } : { mode: 'passthrough' },
        protection,
        timing: this.deps.timing,
        windowSeconds: this.deps.dvrWindowSeconds,
        hlsAudio: this.deps.hlsAudio,
        thumbnails: this.deps.thumbnails,
        log,
        recordDir: stream.archive ? streamPaths(this.deps.dataDir, streamId).recording(number) : null,
        onSegment: this.deps.segmentSink?.(streamId, number),
        onPlayable: () => this.send(streamId, { type: 'MEDIA_READY' }),
        onUnsupported: (reason) => {
          log.warn({ reason }, 'publisher sends media Weir cannot package; disconnecting');
          this.send(streamId, { type: 'MEDIA_REFUSED', reason });
          disconnect();
        },
      });
      current = { number, broadcast };
      this.broadcasts.set(streamId, current);
    }
    const { broadcast } = current;
    broadcast.startSession();
    broadcast.lastMediaAt = Date.now();
    this.publishers.set(streamId, { sessionId: request.sessionId, disconnect });
    this.send(streamId, { type: 'PUBLISH_STARTED' });
    log.info({ ip: request.ip, continuing }, continuing ? 'publisher returned within the reconnect window' : 'publisher started');
    // The stall watchdog hears that media flows at most once a second, not once a packet.
    let toldFlowingAt = 0;
    return {
      onUnit: (unit, arrivalMs) => {
        broadcast.ingest(unit, arrivalMs);
        if ((unit.kind === 'video' || unit.kind === 'audio') && arrivalMs - toldFlowingAt >= 1000) {
          toldFlowingAt = arrivalMs;
          this.send(streamId, { type: 'MEDIA_FLOWING' });
        }
      },
      onClose: () => {
        if (this.publishers.get(streamId)?.sessionId !== request.sessionId) return;
        this.publishers.delete(streamId);
        broadcast.endSession();
        log.info({ bytesIn: broadcast.bytesIn }, 'publisher disconnected');
        this.send(streamId, { type: 'PUBLISHER_GONE' });
      },
    };
  }

  private async finishBroadcast(input: FinishInput): Promise<void> {
    const current = this.broadcasts.get(input.streamId);
    if (current && current.number === input.broadcast) await current.broadcast.end();
  }

  private async archiveBroadcast(input: ArchiveInput): Promise<string | null> {
    const stream = this.deps.catalog.get(input.streamId);
    if (!stream) return null;
    const dir = streamPaths(this.deps.dataDir, input.streamId).recording(input.broadcast);
    if (!existsSync(join(dir, 'v0.mp4'))) return null;
    return this.deps.archive(stream, dir, input.broadcast);
  }

  /** A new key (asked of the stream's actor with RESET_KEY): the old one stops working and its live publisher is cut. */
  resetKey(streamId: string, streamKey: string, srtPassphrase?: string | null): void {
    this.actors.assertOwnHere(streamId);
    this.send(streamId, { type: 'RESET_KEY', streamKey, srtPassphrase });
  }

  private replaceStreamKey(streamId: string, { streamKey, srtPassphrase }: ResetKeyParams): void {
    const stream = this.deps.catalog.get(streamId);
    if (!stream) return;
    this.deps.catalog.resetKey(streamId, streamKey, srtPassphrase);
    this.byKey.delete(stream.streamKey);
    this.byKey.set(streamKey, streamId);
    this.publishers.get(streamId)?.disconnect();
  }

  async delete(streamId: string): Promise<void> {
    this.actors.assertOwnHere(streamId);
    const stream = this.deps.catalog.get(streamId);
    this.publishers.get(streamId)?.disconnect();
    this.publishers.delete(streamId);
    this.actors.remove(streamId, () => {
      this.deps.keys.remove(streamId);
      this.deps.catalog.remove(streamId);
    });
    await this.broadcasts.get(streamId)?.broadcast.end();
    this.broadcasts.delete(streamId);
    if (stream) this.byKey.delete(stream.streamKey);
    this.keyring.delete(streamId);
    await rm(streamPaths(this.deps.dataDir, streamId).root, { recursive: true, force: true });
  }

  /** Shutdown: cut publishers, stop actors; their persisted state says a broadcast was running. */
  stopAll(): void {
    this.stopping = true;
    for (const publisher of this.publishers.values()) publisher.disconnect();
    for (const { broadcast } of this.broadcasts.values()) for (const r of broadcast.allRenditions()) r.end();
    this.actors.stopAll();
  }
}
