export type RateLimitOptions = {
  /** Tokens refilled per minute; also the burst a quiet caller may spend at once. */
  perMinute: number;
  /** The most callers tracked at once; the least recently seen are forgotten first. */
  maxKeys?: number;
  /** The time, injected so tests need not wait for it. */
  now?: () => number;
};

/**
 * A token bucket per key (a client address). Memory is bounded by maxKeys whatever the callers
 * do: a forgotten caller starts again with a full bucket, which errs on the side of serving.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes one token: 0 when allowed, else the whole seconds until one is available. */
  take(key: string): number {
    const now = this.now();
    const capacity = this.options.perMinute;
    const refillPerMs = capacity / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * refillPerMs);
    bucket.at = now;
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000));
  }
}
