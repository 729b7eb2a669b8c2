// The player page and Chromium launcher are shared with the benchmarks.
export * from '../../scripts/lib/player.js';
