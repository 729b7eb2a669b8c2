/**
 * Refused or misbehaving clients retry every few milliseconds. Each (address, reason) pair gets
 * one log line per interval, carrying how many refusals it stood for since the last one. Keys
 * must hold nothing the client wrote; the map is bounded whatever the clients do.
 */
export class RefusalLog {
  private readonly entries = new Map<string, { at: number; repeated: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `write` with the count of refusals it stands for, or not at all within the interval. */
  note(address: string, reason: string | number, write: (refusedSinceLastLine: number) => void): void {
    const key = `${address}|${reason}`;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.repeated++;
      return;
    }
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { at: now, repeated: 0 });
    write(entry?.repeated ?? 0);
  }

  /** Forgets pairs quiet for several intervals. */
  prune(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (now - entry.at > 6 * this.intervalMs) this.entries.delete(key);
  }
}
