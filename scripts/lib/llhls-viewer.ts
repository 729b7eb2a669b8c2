/**
 * A simulated LL-HLS player: it holds a blocking playlist request on the hinted part, then
 * fetches that part, as hls.js does at the live edge. It counts what a viewer would feel: parts
 * received, parts it had to skip, answers that came late, and errors.
 */
export type ViewerStats = {
  parts: number;
  /** Parts the viewer never saw: the next hint jumped past the one after the last part. */
  missed: number;
  /** The first few gaps, as "last received → next received". */
  gaps: string[];
  /** Cycles (playlist answer, then the hinted part) that took longer than `lateAfterMs`. */
  late: number;
  /** How long each cycle took (ms): about one part duration at the live edge. */
  cycleMs: number[];
  errors: string[];
};

export type Viewer = { stats: ViewerStats; stop(): Promise<void> };

export type ViewerOptions = {
  /** The media playlist (index.m3u8) of one rendition, with its token. */
  playlistUrl: string;
  lateAfterMs: number;
  fetch?: typeof globalThis.fetch;
  /** Errors kept at most (the count goes on). */
  maxErrors?: number;
  /** Told of each part received ("msn.part") and when (performance.now()). */
  onPart?: (part: string, at: number) => void;
};

const hintPattern = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part-(\d+)\.(\d+)\.m4s)"/;
const partPattern = /#EXT-X-PART:[^\n]*URI="part-(\d+)\.(\d+)\.m4s"/g;

type PartId = { msn: number; part: number };
const after = (a: PartId, b: PartId) => a.msn > b.msn || (a.msn === b.msn && a.part > b.part);

/** The next part to load after `received`: the first listed after it (a player loads parts in order), else the hint. */
function nextPart(text: string, received: PartId | null): PartId | null {
  if (received) {
    for (const match of text.matchAll(partPattern)) {
      const listed = { msn: Number(match[1]), part: Number(match[2]) };
      if (after(listed, received)) return listed;
    }
  }
  const hint = hintPattern.exec(text);
  return hint ? { msn: Number(hint[2]), part: Number(hint[3]) } : null;
}

export function startViewer(options: ViewerOptions): Viewer {
  const get = options.fetch ?? globalThis.fetch;
  const base = options.playlistUrl.slice(0, options.playlistUrl.lastIndexOf('/') + 1);
  const stats: ViewerStats = { parts: 0, missed: 0, gaps: [], late: 0, cycleMs: [], errors: [] };
  const maxErrors = options.maxErrors ?? 20;
  let running = true;
  const fail = (message: string) => {
    if (stats.errors.length < maxErrors) stats.errors.push(message);
  };
  const playlist = async (query: string) => {
    const response = await get(`${options.playlistUrl}${query}`);
    const text = await response.text();
    if (!response.ok) fail(`playlist ${response.status}: ${text.slice(0, 200)}`);
    return response.ok ? text : '';
  };
  const loop = (async () => {
    let target: PartId | null = null;
    let received: PartId | null = null;
    while (running) {
      try {
        if (!target) {
          target = nextPart(await playlist(''), null);
          if (!target) continue;
        }
        const started = performance.now();
        // A request for the hinted part is held until the part is complete.
        const response = await get(`${base}part-${target.msn}.${target.part}.m4s`);
        const body = await response.arrayBuffer();
        if (response.status === 404 && target.part > 0) {
          // The segment closed before this hinted part began (a keyframe came): the next
          // segment's first part follows. Players treat an unrealised hint the same way.
          target = { msn: target.msn + 1, part: 0 };
          continue;
        }
        if (!response.ok || body.byteLength === 0) {
          fail(`part ${target.msn}.${target.part} ${response.status}`);
          target = null;
          received = null;
          continue;
        }
        stats.parts++;
        options.onPart?.(`${target.msn}.${target.part}`, performance.now());
        const followsOn = received && ((target.msn === received.msn && target.part === received.part + 1) || (target.msn === received.msn + 1 && target.part === 0));
        if (received && !followsOn) {
          stats.missed++;
          if (stats.gaps.length < 10) stats.gaps.push(`${received.msn}.${received.part} → ${target.msn}.${target.part}`);
        }
        received = target;
        // The playlist that lists the part just fetched: the next is listed after it, or hinted.
        const text = await playlist(`?_HLS_msn=${target.msn}&_HLS_part=${target.part}`);
        const cycle = performance.now() - started;
        stats.cycleMs.push(cycle);
        if (cycle > options.lateAfterMs) stats.late++;
        target = nextPart(text, received);
      } catch (error) {
        if (running) fail((error as Error).message);
        target = null;
        received = null;
      }
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await loop;
    },
  };
}
