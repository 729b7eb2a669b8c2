import { EventEmitter } from 'node:events';
import { createActor, type Actor, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from 'xstate';
import type { SnapshotStore } from '../catalog/snapshots.js';
import { WeirError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What a registry's owner tells it about one kind of actor (titles, streams). */
export type ActorKind<M extends AnyStateMachine, V extends { state: string }> = {
  /** The snapshot kind in the store, and the label in logs ('title', 'stream'). */
  kind: string;
  machine: M;
  /** Bump with the machine's shape; a stored snapshot of another version is not restored. */
  machineVersion: number;
  /** The catalog's view of a snapshot; its `state` is logged on change. */
  viewOf(snapshot: SnapshotFrom<M>): V;
  /** Writes the view to the catalog (run in the same transaction as the snapshot). */
  saveView(id: string, view: V): void;
  /** After a persisted change, on the registry's own side (sets of ready titles and the like). */
  onChange?(id: string, view: V): void;
  /** A machine bug, not bad input: record it where operators look. */
  onCrash?(id: string, actor: Actor<M>, error: unknown): void;
};

export type StoredActor = { id: string; machineVersion: number; snapshot: unknown };

/** With several nodes on one catalog: which node runs an actor (catalog/actor-owners.ts). */
export type ActorOwnership = {
  claim(id: string, now: number): boolean;
  /** Claims many at once: the ones this node holds now. */
  claimAll(ids: readonly string[], now: number): ReadonlySet<string>;
  owner(id: string, now: number): string | null;
  release(id: string): void;
};

/**
 * The one mechanism behind every root actor (one per title, one per live stream): start,
 * persist each changed snapshot together with the catalog's view in one transaction, restore,
 * send, and stop. Emits ('change', id, view) after each persisted change, ('change', id, null)
 * after a removal.
 */
export class ActorRegistry<M extends AnyStateMachine, V extends { state: string }> {
  private readonly actors = new Map<string, { actor: Actor<M>; unsubscribe: () => void }>();
  readonly events = new EventEmitter();
  private stopping = false;

  constructor(
    private readonly type: ActorKind<M, V>,
    private readonly snapshots: SnapshotStore,
    private readonly log: Logger,
    private readonly ownership: ActorOwnership | null = null,
  ) {
    // Every waiter on a change (a test, an event stream per operator) listens here: no fixed cap.
    this.events.setMaxListeners(0);
  }

  /**
   * Whether this node may run the actor: always on one node; with several, when it holds (or now
   * takes) the actor's row. A restore skips actors another live node runs.
   */
  claim(id: string, now = Date.now()): boolean {
    return this.ownership ? this.ownership.claim(id, now) : true;
  }

  /** Refuses to change an actor that another live node runs (the change belongs on that node). */
  assertOwnHere(id: string, now = Date.now()): void {
    if (!this.ownership || this.actors.has(id)) return;
    const owner = this.ownership.owner(id, now);
    if (owner !== null) {
      throw new WeirError('OWNED_BY_ANOTHER_NODE', `The ${this.type.kind} ${id} is run by another Weir node (${owner}); send this request to that node.`, { node: owner });
    }
  }

  /** Starts an actor, fresh from `input` or from a stored `snapshot` of the current machine version. */
  start(id: string, options: { input: InputFrom<M>; snapshot?: unknown; claimed?: boolean }): Actor<M> {
    const { type } = this;
    if (!options.claimed) this.ownership?.claim(id, Date.now()); // a new actor's row is free
    const actor = createActor(type.machine, options.snapshot === undefined ? { input: options.input } : { input: options.input, snapshot: options.snapshot as SnapshotFrom<M> }) as Actor<M>;
    const log = this.log.child({ [`${type.kind}Id`]: id, actor: type.kind });
    let lastState = '';
    let lastSaved = '';
    // A restored actor's first snapshot is the stored one, written already with its view: not
    // written again (a restore of 100 000 titles was a transaction each).
    let stored = options.snapshot === undefined ? null : JSON.stringify(options.snapshot);
    const subscription = actor.subscribe({
      next: (snapshot) => {
        if (this.stopping) return;
        const view = type.viewOf(snapshot);
        if (view.state !== lastState) {
          log.info({ state: view.state, ...this.logged(view) }, `${type.kind} state`);
          lastState = view.state;
        }
        if (view.state === 'deleted') return;
        // Events that change nothing (heartbeats) are not written again.
        const persisted = actor.getPersistedSnapshot();
        const serialized = JSON.stringify(persisted);
        if (serialized === lastSaved) return;
        const alreadyStored = serialized === stored;
        stored = null;
        if (!alreadyStored) {
          try {
            this.snapshots.save({ actorId: id, kind: type.kind, machineVersion: type.machineVersion, snapshot: persisted }, () => type.saveView(id, view));
          } catch (error) {
            // Nothing was written (one transaction); the actor goes on in memory and the next change
            // writes its state again. Throwing here would take the whole process down.
            log.error({ err: error }, `persisting the ${type.kind} failed; the next change will try again`);
            return;
          }
        }
        lastSaved = serialized;
        type.onChange?.(id, view);
        this.events.emit('change', id, view);
      },
      error: (error) => {
        log.error({ err: error }, `${type.kind} actor crashed`);
        type.onCrash?.(id, actor, error);
      },
    });
    this.actors.set(id, { actor, unsubscribe: () => subscription.unsubscribe() });
    actor.start();
    return actor;
  }

  private logged(view: V): Record<string, unknown> {
    const error = (view as { error?: unknown }).error;
    return error ? { error } : {};
  }

  /**
   * The stored actors to bring back here (start them with `claimed`): not running on this node,
   * and not run by another live node, in one claim for all of them.
   */
  restorable(now = Date.now()): StoredActor[] {
    const candidates = this.stored().filter((stored) => !this.actors.has(stored.id));
    if (!this.ownership) return candidates;
    const held = this.ownership.claimAll(candidates.map((stored) => stored.id), now);
    return candidates.filter((stored) => held.has(stored.id));
  }

  /** The stored snapshots of this kind: the caller decides, per actor, how to bring it back. */
  stored(): StoredActor[] {
    return this.snapshots.listKind(this.type.kind).map((s) => ({ id: s.actorId, machineVersion: s.machineVersion, snapshot: s.snapshot }));
  }

  /** Forgets a stored snapshot whose subject is gone. */
  forget(id: string): void {
    this.snapshots.remove(id);
  }

  get(id: string): Actor<M> | undefined {
    return this.actors.get(id)?.actor;
  }

  has(id: string): boolean {
    return this.actors.has(id);
  }

  snapshot(id: string): SnapshotFrom<M> | undefined {
    return this.actors.get(id)?.actor.getSnapshot() as SnapshotFrom<M> | undefined;
  }

  send(id: string, event: EventFromLogic<M>): void {
    this.actors.get(id)?.actor.send(event);
  }

  /**
   * Stops an actor for good: it gets `DELETE` (its machine's final state), then stops, and its
   * snapshot is removed with `alongside` (the catalog rows) in one transaction.
   */
  remove(id: string, alongside: () => void): void {
    const entry = this.actors.get(id);
    if (entry) {
      entry.actor.send({ type: 'DELETE' } as EventFromLogic<M>);
      entry.unsubscribe();
      entry.actor.stop();
      this.actors.delete(id);
    }
    this.snapshots.removeWith(id, alongside);
    this.ownership?.release(id);
    this.events.emit('change', id, null);
  }

  /** Shutdown: the last snapshots are already persisted; stopping ends invoked children. */
  stopAll(): void {
    this.stopping = true;
    for (const { actor, unsubscribe } of this.actors.values()) {
      unsubscribe();
      actor.stop();
    }
    this.actors.clear();
  }
}
