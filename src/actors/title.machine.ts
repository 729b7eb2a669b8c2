import { assign, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type { PublishedRendition, TitleState } from '../catalog/titles.js';
import type { CodedError } from '../errors.js';
import { toCodedError } from '../errors.js';
import { chooseLadder, type Ladder } from '../pipeline/encode/ladder.js';
import type { SourceFacts } from '../pipeline/encode/probe.js';
import type { Protection } from '../drm/keys.js';

/**
 * Bump when states or context change shape; restore compares it with the stored one. (Keying
 * moved before packaging without a bump: a stored `packaging` gets its key in the package
 * stage, a stored `keying` packages again, into the protected set's own directory.)
 */
export const titleMachineVersion = 2;

export type TitleInput = { titleId: string; protection: Protection; maxEncodeAttempts: number; retryBaseMs: number };

export type TitleContext = TitleInput & {
  sourcePath: string | null;
  facts: SourceFacts | null;
  ladder: Ladder | null;
  progress: number;
  encodeAttempts: number;
  /** Durable deadline (epoch ms) for the next encode try: delayed events do not survive restore. */
  retryAt: number | null;
  error: CodedError | null;
  renditions: PublishedRendition[] | null;
};

export type TitleEvent =
  | { type: 'SOURCE_UPLOADED'; path: string }
  | { type: 'ENCODE_PROGRESS'; fraction: number }
  | { type: 'ENCODED' }
  | { type: 'ENCODE_FAILED'; error: CodedError; transient: boolean }
  | { type: 'RETRY' }
  | { type: 'DELETE' };

export type StageInput = { titleId: string; protection: Protection; sourcePath: string; facts: SourceFacts; ladder: Ladder };

/** What each stage is; the registry provides real ones, tests may provide their own. */
const notProvided = (stage: string) => () => {
  throw new Error(`title stage "${stage}" was not provided`);
};

export const titleMachine = setup({
  types: {
    context: {} as TitleContext,
    events: {} as TitleEvent,
    input: {} as TitleInput,
  },
  actors: {
    probe: fromPromise<SourceFacts, { titleId: string; sourcePath: string }>(notProvided('probe')),
    encode: fromCallback<EventObject, StageInput>(notProvided('encode')),
    package: fromPromise<PublishedRendition[], StageInput>(notProvided('package')),
    key: fromPromise<void, StageInput>(notProvided('key')),
    publish: fromPromise<void, StageInput>(notProvided('publish')),
    waitUntil: fromPromise<void, { at: number }>(async ({ input, signal }) => {
      const delay = Math.max(0, input.at - Date.now());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }),
  },
  actions: {
    startOver: assign({ error: null, encodeAttempts: 0, progress: 0, retryAt: null, facts: null, ladder: null, renditions: null }),
  },
  guards: {
    canRetryEncode: ({ context, event }) =>
      event.type === 'ENCODE_FAILED' && event.transient && context.encodeAttempts < context.maxEncodeAttempts,
  },
}).createMachine({
  id: 'title',
  context: ({ input }) => ({
    ...input,
    sourcePath: null,
    facts: null,
    ladder: null,
    progress: 0,
    encodeAttempts: 0,
    retryAt: null,
    error: null,
    renditions: null,
  }),
  initial: 'awaiting_upload',
  on: {
    DELETE: '.deleted',
  },
  states: {
    awaiting_upload: {
      on: {
        SOURCE_UPLOADED: { target: 'probing', actions: assign({ sourcePath: ({ event }) => event.path }) },
      },
    },
    probing: {
      invoke: {
        src: 'probe',
        input: ({ context }) => ({ titleId: context.titleId, sourcePath: context.sourcePath! }),
        onDone: {
          target: 'encoding',
          actions: assign({ facts: ({ event }) => event.output, ladder: ({ event }) => chooseLadder(event.output) }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toCodedError(event.error, 'SOURCE_UNREADABLE') }) },
      },
    },
    encoding: {
      entry: assign({ encodeAttempts: ({ context }) => context.encodeAttempts + 1, progress: 0, retryAt: null }),
      invoke: { src: 'encode', input: ({ context }) => stageInput(context) },
      on: {
        ENCODE_PROGRESS: { actions: assign({ progress: ({ event }) => Math.min(1, Math.max(0, event.fraction)) }) },
        ENCODED: { target: 'keying', actions: assign({ progress: 1 }) },
        ENCODE_FAILED: [
          {
            guard: 'canRetryEncode',
            target: 'encode_backoff',
            actions: assign({ retryAt: ({ context }) => Date.now() + context.retryBaseMs * 2 ** (context.encodeAttempts - 1) }),
          },
          { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
        ],
      },
    },
    encode_backoff: {
      invoke: { src: 'waitUntil', input: ({ context }) => ({ at: context.retryAt ?? 0 }), onDone: 'encoding' },
    },
    keying: {
      // Gets the title's key before packaging, which encrypts as it writes; a clear title passes through.
      invoke: {
        src: 'key',
        input: ({ context }) => stageInput(context),
        onDone: 'packaging',
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toCodedError(event.error, 'KEYING_FAILED') }) },
      },
    },
    packaging: {
      invoke: {
        src: 'package',
        input: ({ context }) => stageInput(context),
        onDone: { target: 'publishing', actions: assign({ renditions: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toCodedError(event.error, 'PACKAGE_FAILED') }) },
      },
    },
    publishing: {
      invoke: {
        src: 'publish',
        input: ({ context }) => stageInput(context),
        onDone: 'ready',
        onError: { target: 'failed', actions: assign({ error: ({ event }) => toCodedError(event.error, 'PUBLISH_FAILED') }) },
      },
    },
    ready: {},
    // Not a dead end: retry from the kept source, or start again from a new one.
    failed: {
      on: {
        RETRY: { target: 'probing', actions: 'startOver' },
        SOURCE_UPLOADED: { target: 'probing', actions: ['startOver', assign({ sourcePath: ({ event }) => event.path })] },
      },
    },
    deleted: { type: 'final' },
  },
});

function stageInput(context: TitleContext): StageInput {
  return { titleId: context.titleId, protection: context.protection, sourcePath: context.sourcePath!, facts: context.facts!, ladder: context.ladder! };
}

/** The public state name of a machine state (the backoff wait is part of encoding). */
export function publicTitleState(value: string): TitleState {
  return value === 'encode_backoff' ? 'encoding' : (value as TitleState);
}
