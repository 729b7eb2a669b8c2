/** Where time comes from: injected, so tests can move it instead of waiting for it. */
export type Clock = { now(): number };

export const systemClock: Clock = { now: () => Date.now() };
