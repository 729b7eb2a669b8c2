/**
 * The LL-HLS rules Weir follows, each beside the clause of RFC 8216bis (draft 17) it comes
 * from. Pure functions over a rendition's window, so they are tested from a table without a
 * server; the playlist writer and the delivery routes both read them from here.
 */

/** What the rules need of a rendition's window: segments in order, with their parts. */
export type LiveWindow = {
  readonly segments: readonly { readonly msn: number; readonly parts: readonly unknown[]; readonly complete: boolean }[];
};

/** A blocking playlist request's `_HLS_msn` and optional `_HLS_part`. */
export type PlaylistPosition = { msn: number; part: number | null };

/** §4.4.3.8: PART-HOLD-BACK "MUST be at least twice the Part Target Duration" and SHOULD be three times. */
export const partHoldBack = (partTargetSeconds: number): number => 3 * partTargetSeconds;

/** §4.4.3.8: CAN-SKIP-UNTIL "MUST be at least six times the Target Duration". */
export const canSkipUntil = (targetDurationSeconds: number): number => 6 * targetDurationSeconds;

/** §4.4.5.2 / §6.2.2: parts are listed for segments within three target durations of the end. */
export const partListingSeconds = (targetDurationSeconds: number): number => 3 * targetDurationSeconds;

/**
 * §6.2.5.2: a request for media that does not exist yet is held; if the playlist "does not
 * contain the requested Media Segment or Partial Segment within three times the Target
 * Duration", the server answers with an error.
 */
export const blockingWaitSeconds = (targetDurationSeconds: number): number => 3 * targetDurationSeconds;

/** The newest published part, the playlist's live edge. */
export function lastPart(window: LiveWindow): { msn: number; part: number } | null {
  for (let i = window.segments.length - 1; i >= 0; i--) {
    const segment = window.segments[i]!;
    if (segment.parts.length > 0) return { msn: segment.msn, part: segment.parts.length - 1 };
  }
  return null;
}

function segmentAt(window: LiveWindow, msn: number) {
  const first = window.segments[0];
  return first ? window.segments[msn - first.msn] : undefined;
}

/**
 * §6.2.5.2: whether a playlist that answers `_HLS_msn=M[&_HLS_part=N]` exists now. Without a
 * part, it must contain segment M complete, or a later one. With one, it must contain part N of
 * segment M; a part index past the end of a finished segment means part 0 of the next.
 */
export function reached(window: LiveWindow, position: PlaylistPosition): boolean {
  const last = window.segments[window.segments.length - 1];
  if (!last) return false;
  if (position.part === null) return window.segments.some((s) => s.msn >= position.msn && s.complete) || last.msn > position.msn;
  const segment = segmentAt(window, position.msn);
  if (segment) {
    if (segment.parts.length > position.part) return true;
    if (segment.complete) return (segmentAt(window, position.msn + 1)?.parts.length ?? 0) > 0;
    return false;
  }
  return last.msn > position.msn;
}

export type BlockingVerdict = { kind: 'answer' } | { kind: 'wait' } | { kind: 'refuse'; reason: string };

/**
 * §6.2.5.2: what to do with a blocking playlist request. "If the _HLS_msn is greater than the
 * Media Sequence Number of the last Media Segment in the current Playlist plus two, or if the
 * _HLS_part exceeds the last Partial Segment in the current Playlist by the Advance Part Limit
 * [3], then the server SHOULD immediately return Bad Request."
 */
export function judgeBlockingRequest(window: LiveWindow, position: PlaylistPosition): BlockingVerdict {
  const open = window.segments[window.segments.length - 1];
  const lastComplete = open ? (open.complete ? open.msn : open.msn - 1) : -1;
  if (position.msn > lastComplete + 2) {
    return { kind: 'refuse', reason: `_HLS_msn=${position.msn} is beyond the next segments; the last complete segment is ${lastComplete}.` };
  }
  const edge = lastPart(window);
  if (position.part !== null && edge && position.msn === edge.msn && position.part > edge.part + 3) {
    return { kind: 'refuse', reason: `_HLS_part=${position.part} is more than 3 parts past the last part (${edge.part}) of segment ${position.msn}.` };
  }
  return reached(window, position) ? { kind: 'answer' } : { kind: 'wait' };
}

/** The part an EXT-X-PRELOAD-HINT names (§4.4.5.3): the next of the open segment, or the first of the next. */
export function hintedPart(window: LiveWindow): { msn: number; part: number } | null {
  const last = window.segments[window.segments.length - 1];
  if (!last) return null;
  return last.complete ? { msn: last.msn + 1, part: 0 } : { msn: last.msn, part: last.parts.length };
}

export type PartVerdict = { kind: 'serve' } | { kind: 'wait' } | { kind: 'missing' };

/**
 * §6.2.6: a request for a hinted part that does not exist yet is held until it does; any other
 * part that does not exist never will (404). The part just behind the hint is waited for too,
 * since a player may ask one ahead of the playlist it last read.
 */
export function judgePartRequest(window: LiveWindow, msn: number, index: number, ended: boolean): PartVerdict {
  if (segmentAt(window, msn)?.parts[index] !== undefined) return { kind: 'serve' };
  const hint = hintedPart(window);
  const hinted = hint !== null && ((msn === hint.msn && index <= hint.part + 1) || (msn === hint.msn + 1 && index === 0));
  return hinted && !ended ? { kind: 'wait' } : { kind: 'missing' };
}
