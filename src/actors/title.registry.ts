import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import type { SnapshotStore } from '../catalog/snapshots.js';
import type { TitleCatalog, TitleProgressView } from '../catalog/titles.js';
import type { Logger } from '../logger.js';
import { publicTitleState, titleMachine, titleMachineVersion, type TitleEvent, type TitleInput } from './title.machine.js';
import { titlePaths } from './title.stages.js';

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
 * Holds one root actor per title. Every snapshot change is persisted (with the machine version)
 * together with the catalog's view of the title, in one transaction.
 */
export class TitleRegistry {
  private readonly actors = new Map<string, { actor: TitleActor; unsubscribe: () => void }>();
  /** Titles that may be played: the delivery path asks this set, never the database. */
  readonly ready = new Set<string>();
  /** Emits ('change', titleId, view) after each persisted transition. */
  readonly events = new EventEmitter();
  private stopping = false;

  constructor(private readonly deps: TitleRegistryDeps) {}

  private attach(titleId: string, actor: TitleActor): void {
    const log = this.deps.log.child({ titleId, actor: 'title' });
    let lastState = '';
    const subscription = actor.subscribe({
      next: (snapshot) => {
        if (this.stopping) return;
        const view = viewOf(snapshot);
        if (view.state !== lastState) {
          log.info({ state: view.state, error: view.error ?? undefined }, 'title state');
          lastState = view.state;
        }
        if (view.state === 'deleted') return;
        this.deps.catalog.transaction(() => {
          this.deps.snapshots.save({ actorId: titleId, kind: snapshotKind, machineVersion: titleMachineVersion, snapshot: actor.getPersistedSnapshot() });
          this.deps.catalog.updateView(titleId, view);
        });
        if (view.state === 'ready') this.ready.add(titleId);
        else this.ready.delete(titleId);
        this.events.emit('change', titleId, view);
      },
      error: (error) => {
        // A machine bug, not bad input: record it on the title rather than lose it silently.
        log.error({ err: error }, 'title actor crashed');
        this.deps.catalog.updateView(titleId, {
          ...viewOf(actor.getSnapshot()),
          state: 'failed',
          error: { code: 'INTERNAL', message: 'The title pipeline stopped on an internal error; see the server log.' },
        });
      },
    });
    this.actors.set(titleId, { actor, unsubscribe: () => subscription.unsubscribe() });
  }

  private input(titleId: string): TitleInput {
    return { titleId, protection: this.deps.catalog.get(titleId)?.protection ?? 'none', ...this.deps.limits };
  }

  /** Starts the actor of a new title (its catalog row must exist). */
  create(titleId: string): void {
    const actor = createActor(this.deps.machine, { input: this.input(titleId) });
    this.attach(titleId, actor);
    actor.start();
  }

  /** Brings back every persisted title actor; unfinished ones carry on where they stopped. */
  restoreAll(): number {
    let restored = 0;
    for (const stored of this.deps.snapshots.listKind(snapshotKind)) {
      const titleId = stored.actorId;
      if (!this.deps.catalog.get(titleId)) {
        this.deps.snapshots.remove(titleId);
        continue;
      }
      let actor: TitleActor;
      if (stored.machineVersion === titleMachineVersion) {
        actor = createActor(this.deps.machine, { snapshot: stored.snapshot as SnapshotFrom<TitleMachine>, input: this.input(titleId) });
        this.attach(titleId, actor);
        actor.start();
      } else {
        // A snapshot from another machine version: start over from the kept source, if any.
        this.deps.log.warn({ titleId, stored: stored.machineVersion, current: titleMachineVersion }, 'title snapshot from another machine version; restarting its pipeline');
        actor = createActor(this.deps.machine, { input: this.input(titleId) });
        this.attach(titleId, actor);
        actor.start();
        const source = titlePaths(this.deps.dataDir, titleId).source;
        if (existsSync(source)) actor.send({ type: 'SOURCE_UPLOADED', path: source });
      }
      if (publicTitleState(String(actor.getSnapshot().value)) === 'ready') this.ready.add(titleId);
      restored++;
    }
    return restored;
  }

  has(titleId: string): boolean {
    return this.actors.has(titleId);
  }

  state(titleId: string): string | undefined {
    const entry = this.actors.get(titleId);
    return entry ? publicTitleState(String(entry.actor.getSnapshot().value)) : undefined;
  }

  send(titleId: string, event: TitleEvent): void {
    this.actors.get(titleId)?.actor.send(event);
  }

  /**
   * Runs a failed title again, from its kept source or a new one. The failed run's intermediate
   * work is removed first: the stages reuse what they find on disk.
   */
  async startOver(titleId: string, newSource?: string): Promise<void> {
    if (this.state(titleId) !== 'failed') return;
    await rm(titlePaths(this.deps.dataDir, titleId).work, { recursive: true, force: true });
    this.send(titleId, newSource ? { type: 'SOURCE_UPLOADED', path: newSource } : { type: 'RETRY' });
  }

  /** Stops the title's work, then removes its media, snapshot and catalog row. */
  async delete(titleId: string): Promise<void> {
    const entry = this.actors.get(titleId);
    if (entry) {
      entry.actor.send({ type: 'DELETE' });
      entry.unsubscribe();
      entry.actor.stop();
      this.actors.delete(titleId);
    }
    this.ready.delete(titleId);
    this.deps.catalog.transaction(() => {
      this.deps.snapshots.remove(titleId);
      this.deps.catalog.remove(titleId);
      this.deps.onDeleted?.(titleId);
    });
    await rm(titlePaths(this.deps.dataDir, titleId).root, { recursive: true, force: true });
    this.events.emit('change', titleId, null);
  }

  /** For shutdown: the last snapshots are already persisted; stopping kills child processes. */
  stopAll(): void {
    this.stopping = true;
    for (const { actor, unsubscribe } of this.actors.values()) {
      unsubscribe();
      actor.stop();
    }
    this.actors.clear();
  }
}
