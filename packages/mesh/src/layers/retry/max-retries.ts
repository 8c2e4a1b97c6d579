// Envoy's max_retries circuit breaker (Istio's connectionPool.http.maxRetries): retries outstanding at once to a destination.
import type { DestinationRuleSpec } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import { destinationTrafficPolicy } from '../../routing/destination.js';

/** Retries to one destination outstanding at once, across all its calls. */
export class RetryLimit {
  #outstanding = 0;
  /** Istio's `http.maxRetries`; the latest policy's, so a change applies from the next retry on. */
  max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Takes a place for a retry: `false` when the destination already has `max` outstanding. */
  tryTake(): boolean {
    if (this.#outstanding >= this.max) return false;
    this.#outstanding++;
    return true;
  }

  /** Gives back a place taken by `tryTake`, when the retry it was for has had its answer. */
  give(): void {
    if (this.#outstanding > 0) this.#outstanding--;
  }

  get outstanding(): number {
    return this.#outstanding;
  }
}

/**
 * The retry limit of each destination (the service, or `host|subset`: each is its own Istio
 * cluster) from its DestinationRule's `connectionPool.http.maxRetries`, the subset's own first.
 * `undefined` when the destination sets none (Istio's 2^32−1: no limit) or when its rule has a
 * `retryBudget`, which replaces the limit as Envoy's retry budget replaces `max_retries`. Read
 * only when a retry is about to be made, so calls that are not retried never pay for it.
 */
export function retryLimits(): (ctx: ClientCallContext) => RetryLimit | undefined {
  const byDestination = new Map<string, RetryLimit>();
  return (ctx) => {
    const service = ctx.service;
    if (service === undefined) return undefined;
    const max = destinationTrafficPolicy(ctx, 'connectionPool')?.http?.maxRetries;
    // Istio copies the threshold only when it is above 0.
    if (max === undefined || max <= 0) return undefined;
    const rule = ctx.policy?.forHost(service)?.destinationRules[0]?.spec as DestinationRuleSpec | undefined;
    if (rule?.trafficPolicy?.retryBudget !== undefined) return undefined;
    const destination = ctx.snapshot?.service ?? service;
    let limit = byDestination.get(destination);
    if (limit === undefined) {
      limit = new RetryLimit(max);
      byDestination.set(destination, limit);
    } else {
      limit.max = max;
    }
    return limit;
  };
}
