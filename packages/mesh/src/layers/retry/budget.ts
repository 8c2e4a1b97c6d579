// Retry budgets: how many retries a destination may take, so an outage cannot multiply the load on it.

/** A destination's budget: every call deposits, every retry must withdraw. */
export interface RetryBudget {
  /** A call (its first attempt) starts. */
  deposit(): void;
  /** A retry may start now; if true it has been counted. */
  tryWithdraw(): boolean;
  /** A retry (withdrawn before) has ended. */
  release(): void;
  /** A call has ended. */
  settle(): void;
}

export interface WindowedBudgetOptions {
  /** Share of calls that may be retried, 0…1. Default 0.2 (Finagle, Linkerd). */
  percentCanRetry: number;
  /** Retries allowed each second whatever the traffic. Default 10. */
  minRetriesPerSecond: number;
  /** The window calls and retries are counted over, in ms. Default 10,000. */
  ttlMs: number;
}

export const WINDOWED_BUDGET_DEFAULTS: WindowedBudgetOptions = {
  percentCanRetry: 0.2,
  minRetriesPerSecond: 10,
  ttlMs: 10_000,
};

/**
 * Finagle's and Linkerd's budget: over the last `ttlMs`, retries may number
 * `minRetriesPerSecond × ttl + percentCanRetry × calls`. Counted in one-second buckets, so a
 * call costs a clock read and two additions. Hand-written: the retry libraries at hand
 * (p-retry, cockatiel) have per-call policies, not a budget shared across calls.
 */
export class WindowedRetryBudget implements RetryBudget {
  readonly #calls: Float64Array;
  readonly #retries: Float64Array;
  readonly #epochs: Float64Array;
  readonly #reserve: number;
  readonly #percent: number;
  readonly #now: () => number;

  constructor(options: WindowedBudgetOptions = WINDOWED_BUDGET_DEFAULTS, now: () => number = Date.now) {
    const buckets = Math.max(1, Math.ceil(options.ttlMs / 1000));
    this.#calls = new Float64Array(buckets);
    this.#retries = new Float64Array(buckets);
    this.#epochs = new Float64Array(buckets).fill(-1);
    this.#reserve = options.minRetriesPerSecond * buckets;
    this.#percent = options.percentCanRetry;
    this.#now = now;
  }

  /** The bucket of this second, emptied if it last counted an older second. */
  #bucket(): number {
    const second = Math.floor(this.#now() / 1000);
    const i = second % this.#calls.length;
    if (this.#epochs[i] !== second) {
      this.#epochs[i] = second;
      this.#calls[i] = 0;
      this.#retries[i] = 0;
    }
    return i;
  }

  deposit(): void {
    const i = this.#bucket();
    this.#calls[i] = (this.#calls[i] as number) + 1;
  }

  tryWithdraw(): boolean {
    const i = this.#bucket();
    const oldest = Math.floor(this.#now() / 1000) - this.#calls.length + 1;
    let calls = 0;
    let retries = 0;
    for (let b = 0; b < this.#calls.length; b++) {
      if ((this.#epochs[b] as number) < oldest) continue;
      calls += this.#calls[b] as number;
      retries += this.#retries[b] as number;
    }
    if (retries >= this.#reserve + this.#percent * calls) return false;
    this.#retries[i] = (this.#retries[i] as number) + 1;
    return true;
  }

  release(): void {}
  settle(): void {}
}

/**
 * Istio's DestinationRule `retryBudget` (Envoy's): retries in flight may number
 * max(minRetryConcurrency, percent% × calls in flight).
 */
export class ConcurrentRetryBudget implements RetryBudget {
  #active = 0;
  #retrying = 0;
  readonly #fraction: number;
  readonly #min: number;

  constructor(percent = 20, minRetryConcurrency = 3) {
    this.#fraction = percent / 100;
    this.#min = minRetryConcurrency;
  }

  deposit(): void {
    this.#active++;
  }

  tryWithdraw(): boolean {
    if (this.#retrying >= Math.max(this.#min, this.#fraction * this.#active)) return false;
    this.#retrying++;
    return true;
  }

  release(): void {
    if (this.#retrying > 0) this.#retrying--;
  }

  settle(): void {
    if (this.#active > 0) this.#active--;
  }
}

/** No limit: every retry the policy allows is made (`retryBudget: false`). */
export const UNLIMITED_BUDGET: RetryBudget = {
  deposit() {},
  tryWithdraw: () => true,
  release() {},
  settle() {},
};
