import type { Clock } from '../clock.js';

export type LoginThrottleOptions = {
  /** Failed sign-ins allowed per account, and per client address, within the window. */
  perAccount: number;
  perAddress: number;
  windowMs: number;
  clock: Clock;
  /** Keys tracked at once; the least recently failed are forgotten first (memory stays bounded). */
  maxKeys?: number;
};

/**
 * Failed sign-ins per account and per client address over a sliding window. Password guessing
 * against one account from many addresses meets the account limit; one address spraying many
 * accounts meets the address limit. Successful sign-ins clear the account's count.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly maxKeys: number;

  constructor(private readonly options: LoginThrottleOptions) {
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Seconds until this account may try again from this address; 0 when it may now. */
  retryAfterSeconds(account: string, address: string): number {
    const now = this.options.clock.now();
    const wait = (key: string, limit: number) => {
      const recent = this.recent(key, now);
      return recent.length >= limit ? recent[recent.length - limit]! + this.options.windowMs - now : 0;
    };
    const ms = Math.max(wait(`account:${account}`, this.options.perAccount), wait(`address:${address}`, this.options.perAddress));
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  failed(account: string, address: string): void {
    const now = this.options.clock.now();
    for (const key of [`account:${account}`, `address:${address}`]) {
      const recent = this.recent(key, now);
      recent.push(now);
      // Only the newest `limit` failures ever matter.
      if (recent.length > Math.max(this.options.perAccount, this.options.perAddress)) recent.shift();
      this.failures.delete(key);
      this.failures.set(key, recent);
      if (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
    }
  }

  succeeded(account: string): void {
    this.failures.delete(`account:${account}`);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((at) => at > now - this.options.windowMs);
  }
}
