import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createActor, fromPromise, type Actor, type SnapshotFrom } from 'xstate';
import type { SnapshotStore } from '../catalog/snapshots.js';
import type { StreamCatalog, StreamRecord, StreamView } from '../catalog/streams.js';
import type { PublishAuthority, PublishHandler, PublishRefusal, PublishRequest } from '../ingest/contract.js';
import type { Logger } from '../logger.js';
import { LiveBroadcast } from '../pipeline/live/broadcast.js';
import type { KeyStore } from '../catalog/keys.js';
import type { KeySource } from '../drm/keys.js';
import type { SourcedKey } from '../pipeline/cmaf/encrypt.js';
import type { LiveProtection } from '../pipeline/live/packager.js';
import type { LiveTiming } from '../pipeline/live/packager.js';
import { publicStreamState, streamMachine, streamMachineVersion, type FinishInput, type StreamEvent } from './stream.machine.js';

type StreamActor = Actor<typeof streamMachine>;

export type StreamRegistryDeps = {
  catalog: StreamCatalog;
  snapshots: SnapshotStore;
  dataDir: string;
  log: Logger;
  timing: LiveTiming;
  dvrWindowSeconds: number;
  stallTimeoutMs: number;
  /** For ladder-mode streams. */
  ffmpeg: string;
  ladderPreset: string;
  /** Turns a finished broadcast's recording into a title; returns its id. */
  archive(stream: StreamRecord, recordingDir: string, broadcast: number): Promise<string | null>;
  keys: KeyStore;
  keySource: KeySource;
};

/** Key periods are scoped to a broadcast, so no two broadcasts of a stream share a key. */
const periodsPerBroadcast = 1_000_000;

const snapshotKind = 'stream';

export function streamPaths(dataDir: string, streamId: string) {
  const root = join(dataDir, 'streams', streamId);
  return { root, recording: (broadcast: number) => join(root, 'broadcasts', String(broadcast)) };
}

type Publisher = { sessionId: string; disconnect: () => void };

/**
 * Holds one actor per live stream, the broadcast each is packaging, and who is publishing.
 * It is also the RTMP (and later SRT) publish authority: a synchronous, in-memory decision.
 */
export class StreamRegistry implements PublishAuthority {
  private readonly actors = new Map<string, { actor: StreamActor; unsubscribe: () => void }>();
  private readonly broadcasts = new Map<string, { number: number; broadcast: LiveBroadcast }>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly byKey = new Map<string, string>();
  /** Prepared live keys by stream and period: parts are encrypted on the ingest path, which cannot wait. */
  private readonly keyring = new Map<string, Map<number, SourcedKey>>();
  readonly events = new EventEmitter();
  private stallTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly machine;

  constructor(private readonly deps: StreamRegistryDeps) {
    this.machine = streamMachine.provide({
      actors: { finishBroadcast: fromPromise<string | null, FinishInput>(({ input }) => this.finishBroadcast(input)) },
    });
  }

  private attach(stream: StreamRecord, actor: StreamActor): void {
    const log = this.deps.log.child({ streamId: stream.id, actor: 'stream' });
    let lastState = '';
    const subscription = actor.subscribe({
      next: (snapshot) => {
        if (this.stopping) return;
        const view: StreamView = { state: publicStreamState(snapshot.value), error: snapshot.context.error, archiveTitleIds: snapshot.context.archiveTitleIds };
        if (view.state !== lastState) {
          log.info({ state: view.state, broadcast: snapshot.context.broadcast, error: view.error ?? undefined }, 'stream state');
          lastState = view.state;
        }
        if (view.state === 'deleted') return;
        this.deps.snapshots.save({ actorId: stream.id, kind: snapshotKind, machineVersion: streamMachineVersion, snapshot: actor.getPersistedSnapshot() });
        this.deps.catalog.updateView(stream.id, view);
        this.events.emit('change', stream.id, view);
      },
      error: (error) => log.error({ err: error }, 'stream actor crashed'),
    });
    this.actors.set(stream.id, { actor, unsubscribe: () => subscription.unsubscribe() });
    this.byKey.set(stream.streamKey, stream.id);
  }

  private input(stream: StreamRecord) {
    return { streamId: stream.id, reconnectWindowMs: stream.reconnectWindowSeconds * 1000, archive: stream.archive };
  }

  create(stream: StreamRecord): void {
    const actor = createActor(this.machine, { input: this.input(stream) });
    this.attach(stream, actor);
    actor.start();
    this.prepareKey(stream, 1, 0);
  }

  /** Fetches (or makes) a key ahead of need; the stream refuses publishing until its first is ready. */
  private prepareKey(stream: StreamRecord, broadcast: number, period: number): void {
    if (stream.protection === 'none' || stream.protection === 'aes-128') return;
    const absolute = broadcast * periodsPerBroadcast + period;
    const ring = this.keyring.get(stream.id) ?? new Map<number, SourcedKey>();
    this.keyring.set(stream.id, ring);
    if (ring.has(absolute)) return;
    this.deps.keys.getOrCreate(this.deps.keySource, stream.id, absolute, stream.protection).then(
      (key) => ring.set(absolute, key),
      (error: unknown) => this.deps.log.error({ streamId: stream.id, period: absolute, err: (error as Error).message }, 'could not prepare a live key'),
    );
  }

  private liveProtection(stream: StreamRecord, broadcast: number): LiveProtection | null {
    if (stream.protection !== 'cenc' && stream.protection !== 'cbcs') return null;
    return {
      scheme: stream.protection,
      rotationSegments: stream.keyRotationSegments,
      keyFor: (period) => this.keyring.get(stream.id)?.get(broadcast * periodsPerBroadcast + period),
      onPeriod: (period) => this.prepareKey(stream, broadcast, period + 1),
    };
  }

  /** Restores every stream; a broadcast cut short by the restart is finished (and archived). */
  restoreAll(): number {
    let restored = 0;
    for (const stored of this.deps.snapshots.listKind(snapshotKind)) {
      const stream = this.deps.catalog.get(stored.actorId);
      if (!stream) {
        this.deps.snapshots.remove(stored.actorId);
        continue;
      }
      const usable = stored.machineVersion === streamMachineVersion;
      const actor = createActor(this.machine, usable ? { snapshot: stored.snapshot as SnapshotFrom<typeof streamMachine>, input: this.input(stream) } : { input: this.input(stream) });
      this.attach(stream, actor);
      actor.start();
      const state = publicStreamState(actor.getSnapshot().value);
      if (state === 'starting' || state === 'live' || state === 'reconnecting') actor.send({ type: 'SERVER_RESTARTED' });
      this.prepareKey(stream, actor.getSnapshot().context.broadcast + 1, 0);
      restored++;
    }
    this.stallTimer = setInterval(() => this.checkStalls(), 1000);
    this.stallTimer.unref();
    return restored;
  }

  state(streamId: string): string | undefined {
    const entry = this.actors.get(streamId);
    return entry ? publicStreamState(entry.actor.getSnapshot().value) : undefined;
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
    this.actors.get(streamId)?.actor.send(event);
  }

  authorize(request: PublishRequest, disconnect: () => void): PublishHandler | PublishRefusal {
    if (this.stopping) return { refused: 'the server is stopping', code: 'PUBLISH_UNAVAILABLE' };
    if (request.app !== 'live') return { refused: `unknown application "${request.app.slice(0, 64)}"; publish to /live/<stream key>`, code: 'PUBLISH_APP_UNKNOWN' };
    const streamId = this.byKey.get(request.streamKey);
    if (!streamId) return { refused: 'unknown or reset stream key', code: 'PUBLISH_KEY_UNKNOWN' };
    if (this.publishers.has(streamId)) return { refused: 'the stream is already being published', code: 'PUBLISH_CONFLICT' };
    const state = this.state(streamId);
    if (state === 'ended' && this.actors.get(streamId)?.actor.getSnapshot().matches({ ended: 'finishing' })) {
      return { refused: 'the previous broadcast is still being finished; publish again in a moment', code: 'PUBLISH_UNAVAILABLE' };
    }
    const stream = this.deps.catalog.get(streamId)!;
    const log = this.deps.log.child({ streamId, session: request.sessionId });
    const continuing = state === 'reconnecting';
    let current = this.broadcasts.get(streamId);
    if (!continuing || !current) {
      const number = this.actors.get(streamId)!.actor.getSnapshot().context.broadcast + 1;
      const protection = this.liveProtection(stream, number);
      if (protection && !protection.keyFor(0)) {
        this.prepareKey(stream, number, 0);
        return { refused: 'the stream keys are being prepared; publish again in a moment', code: 'PUBLISH_UNAVAILABLE' };
      }
      const broadcast = new LiveBroadcast({
        video: stream.mode === 'ladder' ? { mode: 'ladder', ffmpeg: this.deps.ffmpeg, preset: this.deps.ladderPreset } : { mode: 'passthrough' },
        protection,
        timing: this.deps.timing,
        windowSeconds: this.deps.dvrWindowSeconds,
        log,
        recordDir: stream.archive ? streamPaths(this.deps.dataDir, streamId).recording(number) : null,
        onPlayable: () => this.send(streamId, { type: 'MEDIA_READY' }),
        onUnsupported: (reason) => {
          log.warn({ reason }, 'publisher sends media Weir cannot package; disconnecting');
          this.send(streamId, { type: 'MEDIA_REFUSED', reason });
          disconnect();
        },
      });
      current = { number, broadcast };
      this.broadcasts.set(streamId, current);
      this.prepareKey(stream, number + 1, 0); // the next broadcast's first key
    }
    const { broadcast } = current;
    broadcast.startSession();
    broadcast.lastMediaAt = Date.now();
    this.publishers.set(streamId, { sessionId: request.sessionId, disconnect });
    this.send(streamId, { type: 'PUBLISH_STARTED' });
    log.info({ ip: request.ip, continuing }, continuing ? 'publisher returned within the reconnect window' : 'publisher started');
    return {
      onUnit: (unit, arrivalMs) => broadcast.ingest(unit, arrivalMs),
      onClose: () => {
        if (this.publishers.get(streamId)?.sessionId !== request.sessionId) return;
        this.publishers.delete(streamId);
        broadcast.endSession();
        log.info({ bytesIn: broadcast.bytesIn }, 'publisher disconnected');
        this.send(streamId, { type: 'PUBLISHER_GONE' });
      },
    };
  }

  private checkStalls(): void {
    const now = Date.now();
    for (const [streamId, publisher] of this.publishers) {
      const broadcast = this.broadcasts.get(streamId)?.broadcast;
      if (broadcast && now - broadcast.lastMediaAt > this.deps.stallTimeoutMs) {
        this.deps.log.warn({ streamId, silentMs: now - broadcast.lastMediaAt }, 'publisher stalled: no media; disconnecting');
        publisher.disconnect();
      }
    }
  }

  private async finishBroadcast(input: FinishInput): Promise<string | null> {
    const current = this.broadcasts.get(input.streamId);
    if (current && current.number === input.broadcast) await current.broadcast.end();
    const stream = this.deps.catalog.get(input.streamId);
    if (!input.archive || !stream) return null;
    const dir = streamPaths(this.deps.dataDir, input.streamId).recording(input.broadcast);
    if (!existsSync(join(dir, 'v0.mp4'))) return null;
    return this.deps.archive(stream, dir, input.broadcast);
  }

  /** A new key: the old one stops working and its live publisher is cut. */
  resetKey(streamId: string, newKey: string): void {
    const stream = this.deps.catalog.get(streamId);
    if (!stream) return;
    this.byKey.delete(stream.streamKey);
    this.deps.catalog.setKey(streamId, newKey);
    this.byKey.set(newKey, streamId);
    this.publishers.get(streamId)?.disconnect();
  }

  async delete(streamId: string): Promise<void> {
    const stream = this.deps.catalog.get(streamId);
    this.publishers.get(streamId)?.disconnect();
    this.publishers.delete(streamId);
    const entry = this.actors.get(streamId);
    if (entry) {
      entry.actor.send({ type: 'DELETE' });
      entry.unsubscribe();
      entry.actor.stop();
      this.actors.delete(streamId);
    }
    await this.broadcasts.get(streamId)?.broadcast.end();
    this.broadcasts.delete(streamId);
    if (stream) this.byKey.delete(stream.streamKey);
    this.keyring.delete(streamId);
    this.deps.keys.remove(streamId);
    this.deps.snapshots.remove(streamId);
    this.deps.catalog.remove(streamId);
    await rm(streamPaths(this.deps.dataDir, streamId).root, { recursive: true, force: true });
  }

  /** Shutdown: cut publishers, stop actors; their persisted state says a broadcast was running. */
  stopAll(): void {
    this.stopping = true;
    if (this.stallTimer) clearInterval(this.stallTimer);
    for (const publisher of this.publishers.values()) publisher.disconnect();
    for (const { broadcast } of this.broadcasts.values()) for (const r of broadcast.renditions.values()) r.end();
    for (const { actor, unsubscribe } of this.actors.values()) {
      unsubscribe();
      actor.stop();
    }
    this.actors.clear();
  }
}
