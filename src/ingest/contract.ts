import type { ErrorCode } from '../errors.js';
import type { MediaUnit } from '../pipeline/media.js';

/**
 * The one contract every live ingest protocol (RTMP, SRT) speaks: a publisher asks the
 * authority, and if accepted hands its handler typed media units in media time.
 */
export type { MediaUnit };

/** What an accepted publisher's media goes to. */
export type PublishHandler = {
  /** One unit as it arrived; `arrivalMs` is the wall clock at arrival. The handler copies what it keeps. */
  onUnit(unit: MediaUnit, arrivalMs: number): void;
  onClose(): void;
};

export type PublishRequest = { app: string; streamKey: string; sessionId: string; ip: string };

/** Why a publish was refused, as an error-catalog code each protocol maps to its own answer. */
export type RefusalCode = Extract<ErrorCode, 'PUBLISH_KEY_UNKNOWN' | 'PUBLISH_APP_UNKNOWN' | 'PUBLISH_CONFLICT' | 'PUBLISH_UNAVAILABLE'>;
export type PublishRefusal = { refused: string; code: RefusalCode };

/** The stream world as ingest needs it: declared here, by its users. */
export type PublishAuthority = {
  /** Decides synchronously (node-media-server cannot wait): a handler, or why not. */
  authorize(request: PublishRequest, disconnect: () => void): PublishHandler | PublishRefusal;
};
