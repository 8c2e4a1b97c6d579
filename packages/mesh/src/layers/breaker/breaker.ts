// One destination's breaker: opossum's rolling window and state machine, with weft's classifier and typed errors around it.
import { EventEmitter } from 'node:events';
import { WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import CircuitBreaker from 'opossum';
import type { ClientCallContext } from '../../client/context.js';
import type { FailureClassifier } from './classify.js';
import type { BreakerPolicy } from './policy.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerStateChange {
  /** The destination: its service, and `|subset` when the route chose one. */
  readonly destination: string;
  readonly state: BreakerState;
  readonly previous: BreakerState;
  /** `Date.now()` of the change. */
  readonly at: number;
}

/** A breaker as the mesh reports it. Counters are since the breaker was made. */
export interface BreakerView {
  readonly destination: string;
  readonly state: BreakerState;
  readonly policy: BreakerPolicy;
  /** Calls and failures in the current rolling window. */
  readonly window: { readonly calls: number; readonly failures: number };
  /** Calls let through, failures counted, calls failed fast while open, times opened. */
  readonly calls: number;
  readonly failures: number;
  readonly rejected: number;
  readonly opened: number;
}

type Next = (request: WeftRequest, ctx: ClientCallContext) => Promise<WeftResponse>;

/** Carries a response the classifier judged a failure through opossum's rejection path. */
class FailedResponse {
  constructor(readonly response: WeftResponse) {}
}

/**
 * The breaker of one destination, made once and kept while its policy holds. Closed, it lets calls
 * through and counts them in a rolling window; above `failurePercent` of at least `minimumCalls`
 * calls it opens and fails every call fast with `WEFT_ERR_CIRCUIT_OPEN` (flag UO); after
 * `openForMs` it lets one probe through (half-open): a success closes it with a fresh window,
 * a failure opens it again.
 */
export class DestinationBreaker {
  readonly destination: string;
  readonly policy: BreakerPolicy;
  readonly #circuit: CircuitBreaker<[WeftRequest, ClientCallContext], WeftResponse>;
  // opossum rotates its buckets on this emitter's 'rotate'; weft drives it, so closing can clear the window.
  readonly #rotate = new EventEmitter();
  readonly #timer: NodeJS.Timeout;
  #state: BreakerState = 'closed';
  #calls = 0;
  #failures = 0;
  #rejected = 0;
  #opened = 0;

  constructor(
    destination: string,
    policy: BreakerPolicy,
    next: Next,
    classify: Required<FailureClassifier>,
    onChange: (change: BreakerStateChange) => void,
  ) {
    this.destination = destination;
    this.policy = policy;
    const judge = (response: WeftResponse, request: WeftRequest): WeftResponse | Promise<WeftResponse> => {
      // 4xx is the caller's: never a failure of the destination.
      if (response.status >= 400 && response.status < 500) return response;
      const verdict = classify.response(response, request);
      // A classifier that answers at once costs no extra promise; an async one (reading a body) is awaited.
      if (verdict === false) return response;
      if (verdict === true) throw new FailedResponse(response);
      return verdict.then((failed) => {
        if (failed) throw new FailedResponse(response);
        return response;
      });
    };
    const action = (request: WeftRequest, ctx: ClientCallContext): Promise<WeftResponse> =>
      next(request, ctx).then((response) => judge(response, request));
    this.#circuit = new CircuitBreaker(action, {
      // The deadline layer times calls; a second timer per call would cost and disagree.
      timeout: false,
      errorThresholdPercentage: policy.failurePercent,
      volumeThreshold: policy.minimumCalls,
      resetTimeout: policy.openForMs,
      rollingCountTimeout: policy.windowMs,
      rollingCountBuckets: policy.buckets,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: this.#rotate,
      // opossum counts a filtered error as a success; an error the classifier does not count is one the destination did not cause.
      errorFilter: (error: unknown, request: WeftRequest) =>
        !(error instanceof FailedResponse) && !classify.error(error, request),
    } as CircuitBreaker.Options);
    const bucketMs = Math.max(1, Math.floor(policy.windowMs / policy.buckets));
    this.#timer = setInterval(() => this.#rotate.emit('rotate'), bucketMs).unref();
    const change = (state: BreakerState) => {
      const previous = this.#state;
      if (previous === state) return;
      this.#state = state;
      if (state === 'open') this.#opened++;
      // A closed breaker starts over: failures from before it opened must not open it again at once.
      if (state === 'closed') for (let i = 0; i < policy.buckets; i++) this.#rotate.emit('rotate');
      onChange({ destination, state, previous, at: Date.now() });
    };
    this.#circuit.on('open', () => change('open'));
    this.#circuit.on('halfOpen', () => change('half-open'));
    this.#circuit.on('close', () => change('closed'));
    this.#circuit.on('failure', () => {
      this.#failures++;
    });
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Sends the call through the breaker, or fails it fast while the breaker is open. */
  call(request: WeftRequest, ctx: ClientCallContext): Promise<WeftResponse> {
    const circuit = this.#circuit;
    // Checked here rather than left to opossum, so calls refused while open are not counted as calls.
    if (circuit.opened || (circuit.halfOpen && !circuit.pendingClose)) return this.#reject(ctx);
    this.#calls++;
    return circuit.fire(request, ctx).then(undefined, (error: unknown) => {
      if (error instanceof FailedResponse) return error.response;
      throw error;
    });
  }

  #reject(ctx: ClientCallContext): Promise<never> {
    this.#rejected++;
    ctx.addResponseFlag('UO');
    const probing = this.#state === 'half-open';
    return Promise.reject(
      new WeftError(
        'WEFT_ERR_CIRCUIT_OPEN',
        probing
          ? `the circuit breaker of ${this.destination} is half-open and its one probe call is in flight; calls fail fast until it answers`
          : `the circuit breaker of ${this.destination} is open: more than ${this.policy.failurePercent}% of at least ${this.policy.minimumCalls} calls failed within ${this.policy.windowMs} ms; calls fail fast for ${this.policy.openForMs} ms before one probe`,
        { service: ctx.service },
      ),
    );
  }

  view(): BreakerView {
    const stats = this.#circuit.stats;
    return {
      destination: this.destination,
      state: this.#state,
      policy: this.policy,
      window: { calls: stats.fires, failures: stats.failures },
      calls: this.#calls,
      failures: this.#failures,
      rejected: this.#rejected,
      opened: this.#opened,
    };
  }

  /** Stops its timers; a closed breaker is never called again. */
  close(): void {
    clearInterval(this.#timer);
    this.#circuit.shutdown();
  }
}
