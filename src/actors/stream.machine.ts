import { assign, fromPromise, setup, spawnChild } from 'xstate';
import type { StreamState } from '../catalog/streams.js';
import type { CodedError } from '../errors.js';

/**
 * Bump when states or context change shape incompatibly. Version 1 snapshots restore as they
 * are: states were only added since (archiving, rested, the watchdog's timers), and one found
 * finishing finishes, then archives, as it did.
 */
export const streamMachineVersion = 1;

export type StreamInput = { streamId: string; reconnectWindowMs: number; archive: boolean };

export type StreamContext = StreamInput & {
  /** Broadcasts started so far; each has its own recording directory. */
  broadcast: number;
  error: CodedError | null;
  archiveTitleIds: string[];
  /** The broadcast was cut short by a server restart: after finishing it the stream rests idle. */
  interrupted: boolean;
};

export type StreamEvent =
  | { type: 'PUBLISH_STARTED' }
  | { type: 'MEDIA_READY' }
  /** Media arrived since the last of these (sent at most about once a second): the publisher is not stalled. */
  | { type: 'MEDIA_FLOWING' }
  | { type: 'PUBLISHER_GONE' }
  | { type: 'MEDIA_REFUSED'; reason: string }
  /** A publisher found the next broadcast's first key missing: prepare it again. */
  | { type: 'KEY_NEEDED' }
  /** The packager began key period `period` of the current broadcast: prepare the one after. */
  | { type: 'KEY_PERIOD_STARTED'; period: number }
  /** A new stream key (and, when given, SRT passphrase): the old key stops working at once. */
  | { type: 'RESET_KEY'; streamKey: string; srtPassphrase?: string | null }
  | { type: 'SERVER_RESTARTED' }
  | { type: 'DELETE' };

export type FinishInput = { streamId: string; broadcast: number };
export type ArchiveInput = { streamId: string; broadcast: number };
export type KeyInput = { streamId: string; broadcast: number; period: number };
export type ResetKeyParams = { streamKey: string; srtPassphrase?: string | null };

const notProvided = (name: string) => () => {
  throw new Error(`stream actor "${name}" was not provided`);
};

/**
 * One live stream: idle → starting → live (every rendition has a segment) ⇄ reconnecting → ended
 * (finishing, archiving) → done. A publisher that returns within the window continues the same
 * broadcast; past it, the broadcast ends and, with archive, becomes a title. Side effects are
 * the named children and actions below, provided by the registry; times are on the actor's
 * clock (XState's SimulatedClock in tests).
 */
export const streamMachine = setup({
  types: { context: {} as StreamContext, events: {} as StreamEvent, input: {} as StreamInput },
  actors: {
    /** Makes (or fetches from the key service) one key period's content key, ahead of need. */
    prepareKey: fromPromise<void, KeyInput>(notProvided('prepareKey')),
    /** Ends the broadcast: playlists get ENDLIST, waiting requests are answered, the recording is flushed. */
    finishBroadcast: fromPromise<void, FinishInput>(notProvided('finishBroadcast')),
    /** Turns the broadcast's recording into a title; returns its id, or null when nothing was recorded. */
    archiveBroadcast: fromPromise<string | null, ArchiveInput>(notProvided('archiveBroadcast')),
  },
  actions: {
    recordRefusal: assign({ error: ({ event }) => (event.type === 'MEDIA_REFUSED' ? { code: 'LIVE_MEDIA_UNSUPPORTED' as const, message: event.reason } : null) }),
    /** A key period began (the first ones before the stream is offered): its successor's key is prepared now. */
    prepareNextPeriodKey: spawnChild('prepareKey', { input: ({ context, event }) => ({ streamId: context.streamId, broadcast: context.broadcast, period: (event.type === 'KEY_PERIOD_STARTED' ? event.period : 0) + 1 }) }),
    beginBroadcast: assign({ broadcast: ({ context }) => context.broadcast + 1, error: null, interrupted: false }),
    /** A restart cut the broadcast short: once finished, the stream rests idle. */
    markInterrupted: assign({ interrupted: true }),
    /** The stall watchdog fired: cut the publisher (its going away is reported as PUBLISHER_GONE). */
    disconnectPublisher: notProvided('disconnectPublisher'),
    /** Replaces the stream key (and passphrase) in the catalog and cuts a publisher using the old one. */
    replaceStreamKey: (_, _params: ResetKeyParams) => notProvided('replaceStreamKey')(),
  },
  delays: {
    // A restart ends a reconnecting broadcast.
    reconnectWindow: ({ context }) => context.reconnectWindowMs,
    stallTimeout: notProvided('stallTimeout'),
  },
}).createMachine({
  id: 'stream',
  context: ({ input }) => ({ ...input, broadcast: 0, error: null, archiveTitleIds: [], interrupted: false }),
  initial: 'idle',
  on: {
    DELETE: '.deleted',
    RESET_KEY: { actions: { type: 'replaceStreamKey', params: ({ event }) => ({ streamKey: event.streamKey, srtPassphrase: event.srtPassphrase }) } },
  },
  states: {
    idle: {
      invoke: { src: 'prepareKey', input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast + 1, period: 0 }) },
      on: {
        // A broadcast begins: its successor's first key is prepared now, so a publisher coming back after it ends need not wait.
        PUBLISH_STARTED: { target: 'starting', actions: ['beginBroadcast', spawnChild('prepareKey', { input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast + 1, period: 0 }) })] },
        KEY_NEEDED: { target: 'idle', reenter: true },
      },
    },
    starting: {
      // The stall watchdog: a publisher that sends nothing for the timeout is cut.
      after: { stallTimeout: { actions: 'disconnectPublisher' } },
      on: {
        KEY_PERIOD_STARTED: { actions: 'prepareNextPeriodKey' },
        MEDIA_FLOWING: { target: 'starting', reenter: true },
        MEDIA_READY: 'live',
        PUBLISHER_GONE: 'ended',
        MEDIA_REFUSED: { target: 'ended', actions: 'recordRefusal' },
        SERVER_RESTARTED: { target: '#stream.ended', actions: 'markInterrupted' },
      },
    },
    live: {
      after: { stallTimeout: { actions: 'disconnectPublisher' } },
      on: {
        MEDIA_FLOWING: { target: 'live', reenter: true },
        KEY_PERIOD_STARTED: { actions: 'prepareNextPeriodKey' },
        PUBLISHER_GONE: 'reconnecting',
        MEDIA_REFUSED: { target: 'ended', actions: 'recordRefusal' },
        SERVER_RESTARTED: { target: '#stream.ended', actions: 'markInterrupted' },
      },
    },
    reconnecting: {
      after: { reconnectWindow: 'ended' },
      on: {
        PUBLISH_STARTED: 'live',
        SERVER_RESTARTED: { target: '#stream.ended', actions: 'markInterrupted' },
      },
    },
    ended: {
      initial: 'finishing',
      states: {
        finishing: {
          invoke: {
            src: 'finishBroadcast',
            input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast }),
            onDone: [{ guard: ({ context }) => context.archive, target: 'archiving' }, { target: 'rested' }],
            onError: {
              target: 'rested',
              actions: assign({ error: ({ event }) => ({ code: 'INTERNAL', message: `Finishing the broadcast failed: ${(event.error as Error).message}` }) }),
            },
          },
        },
        archiving: {
          invoke: {
            src: 'archiveBroadcast',
            input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast }),
            onDone: {
              target: 'rested',
              actions: assign({ archiveTitleIds: ({ context, event }) => (event.output ? [...context.archiveTitleIds, event.output] : context.archiveTitleIds) }),
            },
            onError: {
              target: 'rested',
              actions: assign({ error: ({ event }) => ({ code: 'INTERNAL', message: `Archiving the broadcast failed: ${(event.error as Error).message}` }) }),
            },
          },
        },
        // A broadcast cut short by a restart leaves the stream idle; one that ended shows `ended`.
        rested: { always: [{ guard: ({ context }) => context.interrupted, target: '#stream.idle' }, { target: 'done' }] },
        done: {
          invoke: { src: 'prepareKey', input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast + 1, period: 0 }) },
          on: {
            PUBLISH_STARTED: { target: '#stream.starting', actions: ['beginBroadcast', spawnChild('prepareKey', { input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast + 1, period: 0 }) })] },
            KEY_NEEDED: { target: 'done', reenter: true },
          },
        },
      },
    },
    deleted: { type: 'final' },
  },
});

/** The public state of a machine state value. */
export function publicStreamState(value: unknown): StreamState {
  if (typeof value === 'string') return value as StreamState;
  return 'ended';
}
