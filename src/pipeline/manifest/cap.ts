/**
 * Manifests for a session with a resolution cap (its plan or device): the variants and
 * Representations above the cap are left out, so the player never learns of them. When every
 * rendition is above the cap, the smallest stays: a manifest always plays.
 */

/** The tallest height a session capped at `cap` may play, given the heights on offer. */
export function allowedHeight(heights: readonly number[], cap: number): number {
  const within = heights.filter((h) => h <= cap);
  return within.length > 0 ? Math.max(...within) : Math.min(...heights);
}

const resolutionOf = (line: string): number | null => {
  const match = /RESOLUTION=(\d+)x(\d+)/.exec(line);
  return match ? Number(match[2]) : null;
};

/** An HLS multivariant playlist without the variants (and I-frame variants) above the cap. */
export function capMultivariant(playlist: string, cap: number): string {
  const lines = playlist.split('\n');
  const heights = lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:') || l.startsWith('#EXT-X-I-FRAME-STREAM-INF:')).flatMap((l) => resolutionOf(l) ?? []);
  if (heights.length === 0) return playlist;
  const limit = allowedHeight(heights, cap);
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const height = line.startsWith('#EXT-X-STREAM-INF:') || line.startsWith('#EXT-X-I-FRAME-STREAM-INF:') ? resolutionOf(line) : null;
    if (height !== null && height > limit) {
      if (line.startsWith('#EXT-X-STREAM-INF:')) i++; // and its URI line
      continue;
    }
    kept.push(line);
  }
  return kept.join('\n');
}

const representationPattern = /<Representation\b[^>]*?(?:\/>|>[\s\S]*?<\/Representation>)/g;
const attribute = (element: string, name: string): number | null => {
  const match = new RegExp(`\\b${name}="(\\d+)"`).exec(element.slice(0, element.indexOf('>') + 1));
  return match ? Number(match[1]) : null;
};

/** A DASH MPD (as Weir writes them) without the video Representations above the cap; each set's maxWidth/maxHeight follow. */
export function capMpd(mpd: string, cap: number): string {
  // Only video is capped: a thumbnail set's sprites have heights too.
  const isVideo = (set: string) => /^<AdaptationSet\b[^>]*\bcontentType="video"/.test(set);
  const sets = [...mpd.matchAll(/<AdaptationSet\b[^>]*>[\s\S]*?<\/AdaptationSet>/g)].map((m) => m[0]).filter(isVideo);
  const heights = sets.flatMap((set) => [...set.matchAll(representationPattern)].flatMap((m) => attribute(m[0], 'height') ?? []));
  if (heights.length === 0) return mpd;
  const limit = allowedHeight(heights, cap);
  return mpd.replace(/<AdaptationSet\b[^>]*>[\s\S]*?<\/AdaptationSet>/g, (set) => {
    if (!isVideo(set)) return set;
    const kept: { width: number; height: number }[] = [];
    const filtered = set.replace(representationPattern, (representation) => {
      const height = attribute(representation, 'height');
      if (height === null) return representation;
      if (height > limit) return '';
      kept.push({ width: attribute(representation, 'width') ?? 0, height });
      return representation;
    });
    if (kept.length === 0) return filtered;
    return filtered
      .replace(/(<AdaptationSet\b[^>]*?\bmaxWidth=")\d+"/, `$1${Math.max(...kept.map((k) => k.width))}"`)
      .replace(/(<AdaptationSet\b[^>]*?\bmaxHeight=")\d+"/, `$1${Math.max(...kept.map((k) => k.height))}"`);
  });
}
