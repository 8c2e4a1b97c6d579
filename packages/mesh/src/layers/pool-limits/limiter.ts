// Per-destination admission counters: active requests and a bounded FIFO of waiting calls.
import type { PoolLimitsPolicy } from './policy.js';

/** What a destination's limiter holds right now, for stats and tests. */
export interface PoolLimitsState {
  /** Requests admitted and not yet settled (a streamed body counts until it closes). */
  active: number;
  /** Calls waiting for a request slot. */
  pending: number;
}

interface Waiter {
  grant(): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Envoy's cluster circuit breakers for one destination, written by hand rather than with
 * opossum: these are plain counters with a queue (admit, wait, or overflow now), not a
 * closed/open/half-open state machine over an error rate, and a counter costs a few ns where
 * opossum's `fire` costs ≈ 1 µs per call (BASELINES.md).
 *
 * The policy in force is the one given with the latest `acquire`; a changed policy applies
 * from then on, and calls already admitted keep their slots.
 */
export class PoolLimiter {
  private active = 0;
  /** FIFO of waiting calls; small (at most maxPending), so removal by splice is fine. */
  private readonly queue: Waiter[] = [];
  private policy: PoolLimitsPolicy;

  constructor(policy: PoolLimitsPolicy) {
    this.policy = policy;
  }

  /**
   * Takes a request slot. `true`: admitted now (no allocation). A promise: the call waits in
   * line and it resolves when a slot is handed to it, or rejects with `signal.reason` if the
   * signal fires first (the call then leaves the line). `false`: the line is full —
   * the caller fails fast with an overflow.
   */
  acquire(policy: PoolLimitsPolicy, signal: AbortSignal | undefined): boolean | Promise<void> {
    this.policy = policy;
    // Envoy: past max_requests a call fails at once; past the connections, it waits (max_pending_requests).
    if (this.active >= policy.maxRequests) return false;
    const slots = Math.min(policy.maxConnections, policy.maxRequests);
    if (this.queue.length > 0 && this.active < slots) this.drain();
    if (this.queue.length === 0 && this.active < slots) {
      this.active++;
      return true;
    }
    if (this.queue.length >= policy.maxPending) return false;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
    });
  }

  /** Gives back a slot taken by `acquire`; the first call in line, if any, gets it. Call exactly once. */
  release(): void {
    this.active--;
    if (this.queue.length > 0) this.drain();
  }

  /** Hands free slots to waiting calls, oldest first. */
  private drain(): void {
    const max = Math.min(this.policy.maxConnections, this.policy.maxRequests);
    while (this.active < max) {
      const waiter = this.queue.shift();
      if (waiter === undefined) return;
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.active++;
      waiter.grant();
    }
  }

  state(): PoolLimitsState {
    return { active: this.active, pending: this.queue.length };
  }
}
