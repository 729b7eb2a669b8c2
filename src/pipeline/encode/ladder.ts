import type { Rate, SourceFacts } from './probe.js';

export type VideoRendition = {
  id: string;
  width: number;
  height: number;
  /** Target average bitrate, bits per second. */
  bitrate: number;
  frameRate: Rate;
};

export type AudioRendition = { id: string; bitrate: number; channels: number; sampleRate: number };

export type Ladder = { video: VideoRendition[]; audio: AudioRendition | null };

/** Rungs by the short side, so portrait sources get the same quality steps as landscape ones. */
export const ladderRungs = [
  { shortSide: 1080, bitrate: 5_000_000 },
  { shortSide: 720, bitrate: 2_800_000 },
  { shortSide: 480, bitrate: 1_400_000 },
  { shortSide: 360, bitrate: 800_000 },
] as const;

const even = (value: number): number => Math.max(2, Math.round(value / 2) * 2);

/** Frame rates above 60 are halved: devices and bitrates are tuned for 60 and below. */
export function outputFrameRate(source: Rate): Rate {
  return source.num / source.den > 60 ? { num: source.num, den: source.den * 2 } : source;
}

/** Chooses renditions from the source: never upscaled, even dimensions, aspect kept. */
export function chooseLadder(facts: SourceFacts): Ladder {
  const audio = facts.audio ? { id: 'a0', bitrate: 128_000, channels: 2, sampleRate: 48_000 } : null;
  return { video: videoLadder(facts.video.width, facts.video.height, facts.video.frameRate), audio };
}

/** The video rungs for a picture size (display size, after rotation). */
export function videoLadder(width: number, height: number, sourceRate: Rate): VideoRendition[] {
  const shortSide = Math.min(width, height);
  const frameRate = outputFrameRate(sourceRate);
  const scaleTo = (targetShort: number) => {
    const factor = targetShort / shortSide;
    return { width: even(width * factor), height: even(height * factor) };
  };
  const rungs = ladderRungs.filter((rung) => rung.shortSide <= shortSide);
  return rungs.length > 0
      ? rungs.map((rung, index) => ({ id: `v${index}`, ...scaleTo(rung.shortSide), bitrate: rung.bitrate, frameRate }))
      : [
          {
            id: 'v0',
            width: even(width),
            height: even(height),
            // Below the lowest rung: scale its bitrate by pixel count, with a floor.
            bitrate: Math.max(150_000, Math.round((800_000 * width * height) / (640 * 360))),
            frameRate,
          },
        ];
}
