// One destination's breaker: opossum's rolling window and state machine, with weft's classifier and typed errors around it.
import { EventEmitter } from 'node:events';
import { WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import CircuitBreaker from 'opossum';
import type { ClientCallContext } from '../../client/context.js';
import { type FailureClassifier, isServerError, isUpstreamFailure } from './classify.js';
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

/** The request weft's default classifiers are given: they never read it. */
const UNREAD_REQUEST = undefined as unknown as WeftRequest;

const unwrapFailedResponse = (error: unknown): WeftResponse => {
  if (error instanceof FailedResponse) return error.response;
  throw error;
};

/**
 * The breaker of one destination, made once and kept while its policy holds. Closed, it lets calls
 * through and counts them in a rolling window; above `failurePercent` of at least `minimumCalls`
 * calls it opens and fails every call fast with `WEFT_ERR_CIRCUIT_OPEN` (flag UO); after
 * `openForMs` it lets one probe through (half-open): a success closes it with a fresh window,
 * a failure opens it again.
 *
 * opossum is the breaker: its rolling window counts every call, its state machine opens, half-opens
 * (its reset timer) and closes, its `fire` runs the half-open probe, and its events tell weft of each
 * change. Only the closed state, where nearly every call is, takes a shorter way than `fire` (≈ 1 µs,
 * four promises and as many closures a call): the call goes straight to the next handler and its
 * start and outcome are written into opossum's window as `fire` would write them; a counted failure
 * then applies opossum's own rule for opening (its `fail`). A call costs one promise and, with the
 * default classifier, no allocation.
 */
export class DestinationBreaker {
  readonly destination: string;
  readonly policy: BreakerPolicy;
  readonly #circuit: CircuitBreaker<[WeftRequest, ClientCallContext], WeftResponse>;
  /**
   * The newest bucket of opossum's rolling window (`status.window[0]`), where `fire` counts a call
   * when it starts and its outcome when it ends; taken again after every rotation.
   */
  #bucket: CircuitBreaker.Bucket;
  readonly #next: Next;
  readonly #classify: Required<FailureClassifier>;
  /** Whether the classifier is weft's default, which reads no request: then one pair of callbacks serves every call. */
  readonly #defaultClassify: boolean;
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
    this.#next = next;
    this.#classify = classify;
    this.#defaultClassify = classify.response === isServerError && classify.error === isUpstreamFailure;
    const judge = (response: WeftResponse, request: WeftRequest): WeftResponse | Promise<WeftResponse> => {
      const verdict = this.#verdict(response, request);
      if (verdict === false) return response;
      if (verdict === true) throw new FailedResponse(response);
      return verdict.then((failed) => {
        if (failed) throw new FailedResponse(response);
        return response;
      });
    };
    // What the half-open probe runs, through opossum's `fire`.
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
    this.#bucket = this.#newestBucket();
    // After opossum's own 'rotate' listener (added when the circuit was made), which puts a new bucket first.
    this.#rotate.on('rotate', () => {
      this.#bucket = this.#newestBucket();
    });
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

  #newestBucket(): CircuitBreaker.Bucket {
    return this.#circuit.status.window[0] as CircuitBreaker.Bucket;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Sends the call through the breaker, or fails it fast while the breaker is open. */
  call(request: WeftRequest, ctx: ClientCallContext): Promise<WeftResponse> {
    const circuit = this.#circuit;
    if (circuit.closed) return this.#closedCall(request, ctx);
    // Checked here rather than left to opossum, so calls refused while open are not counted as calls.
    if (circuit.opened || (circuit.halfOpen && !circuit.pendingClose)) return this.#reject(ctx);
    // Half-open, and this call is the one probe: opossum's `fire` sends it and closes or re-opens on its outcome.
    this.#calls++;
    return circuit.fire(request, ctx).then(undefined, unwrapFailedResponse);
  }

  /** A call while closed: counted in opossum's window as `fire` counts it (the call when it starts, its outcome when it ends). */
  #closedCall(request: WeftRequest, ctx: ClientCallContext): Promise<WeftResponse> {
    this.#calls++;
    this.#bucket.fires++;
    let answer: Promise<WeftResponse>;
    try {
      answer = this.#next(request, ctx);
    } catch (error) {
      answer = Promise.reject(error);
    }
    if (this.#defaultClassify) return answer.then(this.#onResponse, this.#onError);
    return answer.then(
      (response) => this.#judged(response, request),
      (error: unknown) => this.#erred(error, request),
    );
  }

  // weft's default classifier reads neither the request nor anything but the outcome, so these two,
  // made once per breaker, take every call's outcome: no closure per call.
  readonly #onResponse = (response: WeftResponse): WeftResponse | Promise<WeftResponse> =>
    this.#judged(response, UNREAD_REQUEST);
  readonly #onError = (error: unknown): never => this.#erred(error, UNREAD_REQUEST);

  /** Whether `response` counts as a failure: never a 4xx (the caller's), else the classifier's answer. */
  #verdict(response: WeftResponse, request: WeftRequest): boolean | Promise<boolean> {
    if (response.status >= 400 && response.status < 500) return false;
    return this.#classify.response(response, request);
  }

  #judged(response: WeftResponse, request: WeftRequest): WeftResponse | Promise<WeftResponse> {
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.#verdict(response, request);
    } catch (error) {
      // A classifier that throws fails the call with its error, judged as any error is (as under `fire`).
      return this.#erred(error, request);
    }
    if (verdict === false) {
      this.#succeeded(response);
      return response;
    }
    if (verdict === true) {
      this.#failed(new FailedResponse(response), request);
      return response;
    }
    // A classifier that reads the body answers later; the caller gets the response once it has.
    return verdict.then(
      (failed) => {
        if (failed) this.#failed(new FailedResponse(response), request);
        else this.#succeeded(response);
        return response;
      },
      (error: unknown) => this.#erred(error, request),
    );
  }

  #erred(error: unknown, request: WeftRequest): never {
    // As opossum's errorFilter has it: an error the classifier does not count is a success of the destination.
    if (this.#classify.error(error, request)) this.#failed(error, request);
    else this.#succeeded(undefined);
    throw error;
  }

  #succeeded(result: WeftResponse | undefined): void {
    const circuit = this.#circuit;
    // Still closed (nearly always): opossum's 'success' listeners would only count it (and keep its
    // latency, which only percentiles read, and they are off).
    if (circuit.closed) this.#bucket.successes++;
    // The state changed while the call was out: its listeners decide (a success while half-open closes the breaker).
    else if (!circuit.isShutdown) circuit.emit('success', result, 0);
  }

  /** A counted failure, as opossum's `fail` handles one: counted, then the breaker opens if the window says so. */
  #failed(error: unknown, request: WeftRequest): void {
    const circuit = this.#circuit;
    if (circuit.isShutdown) return;
    circuit.emit('failure', error, 0, [request]);
    if (circuit.warmUp) return;
    // opossum's rule for opening (lib/circuit.js, fail): at least volumeThreshold calls in the window
    // and more than errorThresholdPercentage of them failed; while half-open, any failure.
    const halfOpen = circuit.halfOpen;
    const stats = circuit.stats;
    if (stats.fires < circuit.volumeThreshold && !halfOpen) return;
    if ((stats.failures / stats.fires) * 100 > this.policy.failurePercent || halfOpen) circuit.open();
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
