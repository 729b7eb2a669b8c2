import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Actor, SnapshotFrom } from 'xstate';
import type { SnapshotStore } from '../catalog/snapshots.js';
import type { TitleCatalog, TitleProgressView } from '../catalog/titles.js';
import type { Logger } from '../logger.js';
import { WeirError } from '../errors.js';
import type { UploadTarget } from '../ingest/upload.js';
import { ActorRegistry, type ActorOwnership } from './actor-registry.js';
import { publicTitleState, titleMachine, titleMachineVersion, type TitleEvent, type TitleInput } from './title.machine.js';
import { titlePaths } from '../layout.js';

type TitleMachine = typeof titleMachine;
type TitleActor = Actor<TitleMachine>;

export type TitleRegistryDeps = {
  machine: TitleMachine;
  catalog: TitleCatalog;
  snapshots: SnapshotStore;
  dataDir: string;
  log: Logger;
  limits: Pick<TitleInput, 'maxEncodeAttempts' | 'retryBaseMs'>;
  /** Called after a title is deleted, to drop what other parts keep for it (its keys). */
  onDeleted?: (titleId: string) => void;
  /** With several nodes on one catalog: which one runs each title. */
  ownership?: ActorOwnership | null;
};

const snapshotKind = 'title';

function viewOf(snapshot: SnapshotFrom<TitleMachine>): TitleProgressView {
  const { context } = snapshot;
  return {
    state: publicTitleState(String(snapshot.value)),
    progress: context.progress,
    error: context.error,
    facts: context.facts,
    renditions: context.renditions,
  };
}

/**
 * Holds one root actor per title on the shared actor registry: every changed snapshot is
 * persisted (with the machine version) together with the catalog's view, in one transaction.
 */
export class TitleRegistry {
  private readonly actors: ActorRegistry<TitleMachine, TitleProgressView>;
  /** Titles that may be played: the delivery path asks this set, never the database. */
  readonly ready = new Set<string>();
  /** Emits ('change', titleId, view) after each persisted transition, ('change', titleId, null) after a deletion. */
  readonly events: EventEmitter;

  constructor(private readonly deps: TitleRegistryDeps) {
    this.actors = new ActorRegistry<TitleMachine, TitleProgressView>(
      {
        kind: snapshotKind,
        machine: deps.machine,
        machineVersion: titleMachineVersion,
        viewOf,
        saveView: (titleId, view) => deps.catalog.updateView(titleId, view),
        onChange: (titleId, view) => {
          if (view.state === 'ready') this.ready.add(titleId);
          else this.ready.delete(titleId);
        },
        onCrash: (titleId, actor) =>
          deps.catalog.updateView(titleId, {
            ...viewOf(actor.getSnapshot()),
            state: 'failed',
            error: { code: 'INTERNAL', message: 'The title pipeline stopped on an internal error; see the server log.' },
          }),
      },
      deps.snapshots,
      deps.log,
      deps.ownership ?? null,
    );
    this.events = this.actors.events;
  }

  private input(titleId: string, protection = this.deps.catalog.get(titleId)?.protection ?? 'none'): TitleInput {
    return { titleId, protection, ...this.deps.limits };
  }

  /** Starts the actor of a new title (its catalog row must exist). */
  create(titleId: string): void {
    this.actors.start(titleId, { input: this.input(titleId) });
  }

  /** Brings back every persisted title actor; unfinished ones carry on where they stopped. */
  restoreAll(): number {
    let restored = 0;
    // One read of the catalog for every title, not a read each (each a round trip on PostgreSQL).
    const protections = this.deps.catalog.protections();
    // Not those running already (a takeover pass), nor those another live node runs.
    for (const stored of this.actors.restorable()) {
      const titleId = stored.id;
      const protection = protections.get(titleId);
      if (protection === undefined) {
        this.actors.forget(titleId);
        continue;
      }
      let actor: TitleActor;
      if (stored.machineVersion === titleMachineVersion) {
        actor = this.actors.start(titleId, { input: this.input(titleId, protection), snapshot: stored.snapshot, claimed: true });
      } else {
        // A snapshot from another machine version: start over from the kept source, if any.
        this.deps.log.warn({ titleId, stored: stored.machineVersion, current: titleMachineVersion }, 'title snapshot from another machine version; restarting its pipeline');
        actor = this.actors.start(titleId, { input: this.input(titleId, protection), claimed: true });
        const source = titlePaths(this.deps.dataDir, titleId).source;
        if (existsSync(source)) actor.send({ type: 'SOURCE_UPLOADED', path: source });
      }
      if (publicTitleState(String(actor.getSnapshot().value)) === 'ready') this.ready.add(titleId);
      restored++;
    }
    return restored;
  }

  /**
   * Follows a title another node runs (its catalog row changed there): whether it is ready is
   * read from the catalog. A title whose actor runs here is this node's own to follow.
   */
  followCatalog(titleId: string): void {
    if (this.actors.has(titleId)) return;
    if (this.deps.catalog.get(titleId)?.state === 'ready') this.ready.add(titleId);
    else this.ready.delete(titleId);
  }

  has(titleId: string): boolean {
    return this.actors.has(titleId);
  }

  state(titleId: string): string | undefined {
    const snapshot = this.actors.snapshot(titleId);
    return snapshot ? publicTitleState(String(snapshot.value)) : undefined;
  }

  send(titleId: string, event: TitleEvent): void {
    this.actors.send(titleId, event);
  }

  /**
   * Runs a failed title again, from its kept source or a new one. The failed run's intermediate
   * work is removed first: the stages reuse what they find on disk.
   */
  async startOver(titleId: string, newSource?: string): Promise<void> {
    this.actors.assertOwnHere(titleId);
    if (this.state(titleId) !== 'failed') return;
    await rm(titlePaths(this.deps.dataDir, titleId).work, { recursive: true, force: true });
    this.send(titleId, newSource ? { type: 'SOURCE_UPLOADED', path: newSource } : { type: 'RETRY' });
  }

  /** What uploads need of titles: whether one may take a source now, and to be told when it arrived. */
  uploadTarget(isStopping: () => boolean): UploadTarget {
    return {
      assertAwaitingUpload: (titleId) => {
        if (isStopping()) throw new WeirError('SHUTTING_DOWN', 'The server is stopping; upload again shortly.');
        const title = this.deps.catalog.get(titleId);
        if (!title) throw new WeirError('TITLE_NOT_FOUND', `No title with id ${JSON.stringify(titleId)}.`);
        this.actors.assertOwnHere(titleId);
        if (title.state !== 'awaiting_upload' && title.state !== 'failed') {
          throw new WeirError('UPLOAD_NOT_EXPECTED', `Title ${titleId} is ${title.state}; a source can be uploaded only while it is awaiting_upload or failed.`);
        }
      },
      sourceArrived: async (titleId, path) => {
        // A new source for a failed title starts it over; otherwise it is the first source.
        if (this.state(titleId) === 'failed') await this.startOver(titleId, path);
        else this.send(titleId, { type: 'SOURCE_UPLOADED', path });
      },
    };
  }

  /** Stops the title's work, then removes its media, snapshot and catalog row. */
  async delete(titleId: string): Promise<void> {
    this.actors.assertOwnHere(titleId);
    this.ready.delete(titleId);
    this.actors.remove(titleId, () => {
      this.deps.catalog.remove(titleId);
      this.deps.onDeleted?.(titleId);
    });
    await rm(titlePaths(this.deps.dataDir, titleId).root, { recursive: true, force: true });
  }

  /** For shutdown: the last snapshots are already persisted; stopping kills child processes. */
  stopAll(): void {
    this.actors.stopAll();
  }
}
