// The breaker layer: a failure-rate circuit breaker per destination (service and subset), opossum underneath.
import type { Handler, Layer } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { type BreakerStateChange, type BreakerView, DestinationBreaker } from './breaker.js';
import { type FailureClassifier, isServerError, isUpstreamFailure } from './classify.js';
import type { BreakerPolicy } from './policy.js';

export { type BreakerState, type BreakerStateChange, type BreakerView, DestinationBreaker } from './breaker.js';
export { bufferBody, type FailureClassifier, isServerError, isUpstreamFailure } from './classify.js';
export { BREAKER_DEFAULTS, type BreakerPolicy, breakerPolicyResolver, compileBreakerPolicy } from './policy.js';

export interface BreakerOptions {
  /** The call's destination breaker policy; `undefined`: no breaker (the call goes straight through). */
  policyFor: (ctx: ClientCallContext) => BreakerPolicy | undefined;
  /** What counts as a failure; each part left out keeps weft's default. */
  classify?: FailureClassifier;
}

export interface BreakerLayer extends Layer<ClientCallContext> {
  /** Every destination's breaker: state, window, counters. */
  breakers(): BreakerView[];
  /** Calls `listener` on every state change of any breaker; returns a function that stops it. */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void;
  /** Stops every breaker's timers; awaiting it is optional. */
  close(): Promise<void>;
}

interface Entry {
  readonly breaker: DestinationBreaker | undefined;
  /** The policy snapshot the entry was checked against: the same snapshot skips the policy lookup. */
  readonly snapshot: unknown;
}

/**
 * Failure-rate breaking per destination, between hedging and outlier detection: above the
 * balancer, because an open breaker refuses the whole destination before any endpoint is picked;
 * below retry, so each attempt counts and an open breaker ends the retries (its error is not
 * retried). A breaker is made once per destination and policy, never per call; calls to a
 * destination with no breaker settings pass straight through after one Map read.
 */
export function breakers(options: BreakerOptions): BreakerLayer {
  const { policyFor } = options;
  const classify: Required<FailureClassifier> = {
    response: options.classify?.response ?? isServerError,
    error: options.classify?.error ?? isUpstreamFailure,
  };
  const listeners = new Set<(change: BreakerStateChange) => void>();
  const notify = (change: BreakerStateChange) => {
    for (const listener of listeners) listener(change);
  };
  const byDestination = new Map<string, Entry>();

  return {
    role: 'breaker',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      const entryFor = (destination: string, ctx: ClientCallContext): Entry => {
        let entry = byDestination.get(destination);
        if (entry !== undefined && entry.snapshot === ctx.policy) return entry;
        const policy = policyFor(ctx);
        let breaker = entry?.breaker;
        if (breaker !== undefined && breaker.policy !== policy) {
          // New settings start a new breaker; the old one's state does not carry over.
          breaker.close();
          breaker = undefined;
        }
        if (breaker === undefined && policy !== undefined) {
          breaker = new DestinationBreaker(destination, policy, next, classify, notify);
        }
        entry = { breaker, snapshot: ctx.policy };
        byDestination.set(destination, entry);
        return entry;
      };
      return (request, ctx) => {
        const snapshot = ctx.snapshot;
        if (snapshot === undefined) return next(request, ctx);
        const breaker = entryFor(snapshot.service, ctx).breaker;
        return breaker === undefined ? next(request, ctx) : breaker.call(request, ctx);
      };
    },
    breakers: () => [...byDestination.values()].flatMap((e) => (e.breaker === undefined ? [] : [e.breaker.view()])),
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      for (const e of byDestination.values()) e.breaker?.close();
      return Promise.resolve();
    },
  };
}
