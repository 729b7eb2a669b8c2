/**
 * Encodes take every core they are given: a few at a time, the rest wait their turn in arrival
 * order. A waiter whose title is deleted or stopped leaves the queue without taking a slot.
 */
export class EncodeSlots {
  private running = 0;
  private readonly waiting: { resolve: (release: () => void) => void; reject: (reason: unknown) => void }[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the encode limit must be a whole number of at least 1, received ${limit}`);
  }

  /** Resolves with the function that gives the slot back, once one is free; rejects if aborted first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (release: () => void) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Encodes waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /** Whether the next encode would wait. */
  get full(): boolean {
    return this.running >= this.limit;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve(this.releaser());
      else this.running--;
    };
  }
}
