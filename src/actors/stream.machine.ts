import { assign, fromPromise, setup } from 'xstate';
import type { StreamState } from '../catalog/streams.js';
import type { CodedError } from '../errors.js';

/**
 * Bump when states or context change shape. (Snapshots from before the reconnect window became
 * a delayed transition still restore: their waitUntil child is skipped, and a reconnecting
 * stream ends at restart anyway.)
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
  | { type: 'PUBLISHER_GONE' }
  | { type: 'MEDIA_REFUSED'; reason: string }
  | { type: 'SERVER_RESTARTED' }
  | { type: 'DELETE' };

export type FinishInput = { streamId: string; broadcast: number; archive: boolean };

const notProvided = (name: string) => () => {
  throw new Error(`stream actor "${name}" was not provided`);
};

/**
 * One live stream: idle → starting → live (every rendition has a segment) ⇄ reconnecting → ended.
 * A publisher that returns within the window continues the same broadcast; past it, the
 * broadcast ends and, with archive, becomes a title.
 */
export const streamMachine = setup({
  types: { context: {} as StreamContext, events: {} as StreamEvent, input: {} as StreamInput },
  actors: {
    /** Ends the broadcast (playlists get ENDLIST) and archives its recording; returns the new title id, if any. */
    finishBroadcast: fromPromise<string | null, FinishInput>(notProvided('finishBroadcast')),
  },
  // On the actor's clock (XState's SimulatedClock in tests); a restart ends a reconnecting broadcast.
  delays: { reconnectWindow: ({ context }) => context.reconnectWindowMs },
}).createMachine({
  id: 'stream',
  context: ({ input }) => ({ ...input, broadcast: 0, error: null, archiveTitleIds: [], interrupted: false }),
  initial: 'idle',
  on: { DELETE: '.deleted' },
  states: {
    idle: {
      on: { PUBLISH_STARTED: { target: 'starting', actions: assign({ broadcast: ({ context }) => context.broadcast + 1, error: null, interrupted: false }) } },
    },
    starting: {
      on: {
        MEDIA_READY: 'live',
        PUBLISHER_GONE: 'ended',
        MEDIA_REFUSED: { target: 'ended', actions: assign({ error: ({ event }) => ({ code: 'LIVE_MEDIA_UNSUPPORTED', message: event.reason }) }) },
        SERVER_RESTARTED: { target: 'ended', actions: assign({ interrupted: true }) },
      },
    },
    live: {
      on: {
        PUBLISHER_GONE: 'reconnecting',
        MEDIA_REFUSED: { target: 'ended', actions: assign({ error: ({ event }) => ({ code: 'LIVE_MEDIA_UNSUPPORTED', message: event.reason }) }) },
        SERVER_RESTARTED: { target: 'ended', actions: assign({ interrupted: true }) },
      },
    },
    reconnecting: {
      after: { reconnectWindow: 'ended' },
      on: {
        PUBLISH_STARTED: 'live',
        SERVER_RESTARTED: { target: 'ended', actions: assign({ interrupted: true }) },
      },
    },
    ended: {
      initial: 'finishing',
      states: {
        finishing: {
          invoke: {
            src: 'finishBroadcast',
            input: ({ context }) => ({ streamId: context.streamId, broadcast: context.broadcast, archive: context.archive }),
            onDone: [
              {
                guard: ({ context }) => context.interrupted,
                target: '#stream.idle',
                actions: assign({ archiveTitleIds: ({ context, event }) => (event.output ? [...context.archiveTitleIds, event.output] : context.archiveTitleIds) }),
              },
              {
                target: 'done',
                actions: assign({ archiveTitleIds: ({ context, event }) => (event.output ? [...context.archiveTitleIds, event.output] : context.archiveTitleIds) }),
              },
            ],
            onError: {
              target: 'done',
              actions: assign({ error: ({ event }) => ({ code: 'INTERNAL', message: `Finishing the broadcast failed: ${(event.error as Error).message}` }) }),
            },
          },
        },
        done: {
          on: { PUBLISH_STARTED: { target: '#stream.starting', actions: assign({ broadcast: ({ context }) => context.broadcast + 1, error: null }) } },
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
