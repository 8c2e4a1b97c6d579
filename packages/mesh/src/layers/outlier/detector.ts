// Outlier detection for one destination: Envoy's consecutive errors, gRPC A50's success rate and failure percentage; ejects and returns endpoints.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import type { FailurePercentagePolicy, OutlierPolicy, SuccessRatePolicy } from './policy.js';

/** What one attempt to an endpoint came to. */
export interface AttemptOutcome {
  /** The response status, when the endpoint answered. */
  status?: number;
  /** The attempt failed before an answer, on this side: connect refused, reset, timeout. */
  localOrigin?: boolean;
  /** With `localOrigin`: the failure was a timeout (Envoy maps it to 504 when not split; other local failures to 503). */
  timeout?: boolean;
}

/** One endpoint as the detector sees it, for observability. */
export interface OutlierEndpointState {
  address: string;
  ejected: boolean;
  /** When the current ejection ends (ms, the detector's clock), while ejected. */
  ejectedUntil?: number;
  /** Times the endpoint was ejected since the detector first saw it. */
  ejections: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  consecutiveLocalOriginFailures: number;
  /** The current ejection-time multiplier (Envoy's backoff): grows per ejection, decays while healthy. */
  ejectionMultiplier: number;
  /** With A50 ejection on: calls that succeeded and failed so far in the current interval. */
  intervalSuccesses?: number;
  intervalFailures?: number;
}

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  /** `ejectedUntil` while ejected; `undefined` otherwise. */
  ejectedUntil: number | undefined;
  ejections: number;
  multiplier: number;
  lastUnejectedAt: number | undefined;
  /** A50's call counter for the current interval (counted only when A50 ejection is on). */
  successes: number;
  failures: number;
}

export interface OutlierDetectorOptions {
  /** Clock in ms; `Date.now` by default. Tests inject one. */
  now?: () => number;
  /** Start the `interval` sweep timer (unref'd); on by default. */
  sweep?: boolean;
  /** Uniform numbers in [0, 1) for A50's enforcement percentages; `Math.random` by default. */
  random?: () => number;
}

/** The source snapshot of each healthy view, so a view given back (by a retry) is filtered from its source. */
const sourceOf = new WeakMap<EndpointSnapshot, EndpointSnapshot>();

const isGatewayError = (status: number): boolean => status === 502 || status === 503 || status === 504;

/**
 * Consecutive-error outlier detection for one destination (one Istio cluster: a service, or one
 * subset of it), as Envoy runs it for an Istio DestinationRule:
 *
 * - a 5xx response (or one of `httpErrorCodes`) counts toward `consecutive5xxErrors`, a 502/503/504
 *   also toward `consecutiveGatewayErrors`; any other response resets both;
 * - a local-origin failure counts, unsplit, as Envoy maps it (connect failure and reset as 503,
 *   timeout as 504); split, it counts toward `consecutiveLocalOriginFailures` only, and any answer
 *   resets that count;
 * - reaching a threshold ejects the endpoint and resets the counter that fired, unless the ejection
 *   would put more than `maxEjectionPercent` of the endpoints out. As Istio configures Envoy
 *   (`always_eject_one_host` unset), there is no exception for the first: with the default 10 %, a
 *   destination needs at least 10 endpoints before one can be ejected. (gRPC A50 checks the cap
 *   before ejecting, so it always allows one; weft follows Envoy, as the policy is Istio's.)
 * - an ejection lasts `baseEjectionTime × multiplier`, at most `max(base, maxEjectionTime)`; the
 *   multiplier grows by one per ejection and shrinks by one per sweep while the endpoint has been
 *   back for at least `baseEjectionTime` (Envoy). Expiry is checked on every read and by the
 *   `interval` sweep, which is when Envoy checks it.
 * - opt-in (`successRate`, `failurePercentage`: gRPC A50, the `weft.io/outlier-detection`
 *   annotation): every answer and local-origin failure is counted per endpoint, and each sweep
 *   judges the interval's counts. Success rate: among endpoints with `requestVolume` calls, when
 *   at least `minimumHosts` have them, an endpoint whose rate is below
 *   `mean − stdevFactor / 1000 × stdev` (population stdev) is ejected with probability
 *   `enforcementPercentage`. Failure percentage: when the destination has `minimumHosts`
 *   endpoints, one with `requestVolume` calls and more than `threshold` % failed is ejected with
 *   that probability. These follow A50's cap (stop once more than `maxEjectionPercent` are out,
 *   checked before each ejection, so one can always go) and share the ejection-time backoff.
 */
export class OutlierDetector {
  readonly service: string;
  #policy: OutlierPolicy;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sweepOn: boolean;
  #timer: ReturnType<typeof setInterval> | undefined = undefined;
  readonly #hosts = new Map<string, HostState>();
  /** The snapshot whose endpoints are the detector's hosts; `undefined` before the first. */
  #members: EndpointSnapshot | undefined = undefined;
  #ejectedCount = 0;
  /** The earliest `ejectedUntil` of the ejected endpoints; `Infinity` when none is. */
  #nextExpiry = Number.POSITIVE_INFINITY;
  /** Grows with every change of the ejected set; the healthy view is cached against it. */
  #epoch = 0;
  #viewSource: EndpointSnapshot | undefined = undefined;
  #viewEpoch = -1;
  #view: EndpointSnapshot | undefined = undefined;
  #closed = false;

  constructor(service: string, policy: OutlierPolicy, options: OutlierDetectorOptions = {}) {
    this.service = service;
    this.#policy = policy;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sweepOn = options.sweep ?? true;
    this.#startTimer();
  }

  get policy(): OutlierPolicy {
    return this.#policy;
  }

  /** Applies a new policy (a changed DestinationRule), keeping what was learned; restarts the sweep if its interval changed. */
  setPolicy(policy: OutlierPolicy): void {
    if (policy === this.#policy) return;
    const restart = policy.intervalMs !== this.#policy.intervalMs;
    this.#policy = policy;
    this.#epoch++;
    if (restart && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#startTimer();
    }
  }

  /** Records the outcome of one attempt to `address`; may eject it. True when this outcome ejected it. */
  record(address: string, outcome: AttemptOutcome): boolean {
    return this.#record(address, outcome.status, outcome.localOrigin === true, outcome.timeout === true);
  }

  /** `record(address, { status })` without the object: the outcome of every answered attempt. */
  recordStatus(address: string, status: number): boolean {
    return this.#record(address, status, false, false);
  }

  #record(address: string, answer: number | undefined, localOrigin: boolean, timeout: boolean): boolean {
    // The clock is read only when an ejection may have ended (none is out: `#nextExpiry` is Infinity) or one starts.
    if (this.#nextExpiry !== Number.POSITIVE_INFINITY) this.#expire(this.#now());
    let host = this.#hosts.get(address);
    if (host === undefined) {
      // Once endpoints are known, an address no longer among them is forgotten, as Envoy drops its monitor.
      if (this.#members !== undefined) return false;
      host = newHost();
      this.#hosts.set(address, host);
    }
    const p = this.#policy;
    let status = answer;
    if (status === undefined) {
      if (!localOrigin) return false;
      // A50 counts every failed call; a local-origin one is a failure whichever way Envoy splits it.
      if (p.successRate !== undefined || p.failurePercentage !== undefined) host.failures++;
      if (p.splitExternalLocalOriginErrors) {
        host.consecutiveLocal++;
        const limit = p.consecutiveLocalOriginFailures;
        if (limit > 0 && host.consecutiveLocal >= limit) {
          host.consecutiveLocal = 0;
          return this.#eject(host, this.#now());
        }
        return false;
      }
      // Unsplit, Envoy maps a local-origin failure to a status: 503 for connect failures and resets, 504 for timeouts.
      status = timeout ? 504 : 503;
    } else {
      // An answer means the connection worked.
      host.consecutiveLocal = 0;
    }
    const isError = p.httpErrorCodes === undefined ? status >= 500 && status <= 599 : p.httpErrorCodes.has(status);
    if (answer !== undefined && (p.successRate !== undefined || p.failurePercentage !== undefined)) {
      if (isError) host.failures++;
      else host.successes++;
    }
    if (!isError) {
      host.consecutive5xx = 0;
      host.consecutiveGateway = 0;
      return false;
    }
    let fire = false;
    if (isGatewayError(status)) {
      host.consecutiveGateway++;
      const limit = p.consecutiveGatewayErrors;
      if (limit > 0 && host.consecutiveGateway >= limit) {
        host.consecutiveGateway = 0;
        fire = true;
      }
    } else {
      host.consecutiveGateway = 0;
    }
    host.consecutive5xx++;
    const limit = p.consecutive5xxErrors;
    if (limit > 0 && host.consecutive5xx >= limit) {
      host.consecutive5xx = 0;
      fire = true;
    }
    return fire && this.#eject(host, this.#now());
  }

  /**
   * `snapshot` without its ejected endpoints, the same object until the ejected set (or the
   * snapshot) changes. Below `minHealthPercent` healthy, all endpoints (Envoy's panic mode).
   * Also makes `snapshot`'s endpoints the detector's hosts.
   */
  healthy(snapshot: EndpointSnapshot): EndpointSnapshot {
    // Nearly every call: the known endpoints, none ejected (so none can expire): no clock read, no lookup.
    if (this.#ejectedCount === 0 && snapshot === this.#members) return snapshot;
    const source = sourceOf.get(snapshot) ?? snapshot;
    const now = this.#now();
    if (source !== this.#members) this.#sync(source);
    if (now >= this.#nextExpiry) this.#expire(now);
    if (this.#ejectedCount === 0) return source;
    if (this.#viewSource === source && this.#viewEpoch === this.#epoch && this.#view !== undefined) return this.#view;
    const endpoints: Endpoint[] = [];
    for (const e of source.endpoints) {
      if (this.#hosts.get(e.address)?.ejectedUntil === undefined) endpoints.push(e);
    }
    const total = source.endpoints.length;
    let view: EndpointSnapshot;
    if (endpoints.length === total || (total > 0 && (100 * endpoints.length) / total < this.#policy.minHealthPercent)) {
      view = source;
    } else {
      view = Object.freeze({ service: source.service, endpoints: Object.freeze(endpoints), version: source.version });
      sourceOf.set(view, source);
    }
    this.#viewSource = source;
    this.#viewEpoch = this.#epoch;
    this.#view = view;
    return view;
  }

  /** Whether `address` is ejected now. */
  isEjected(address: string): boolean {
    const now = this.#now();
    if (now >= this.#nextExpiry) this.#expire(now);
    return this.#hosts.get(address)?.ejectedUntil !== undefined;
  }

  /** Every known endpoint, for observability. */
  state(): OutlierEndpointState[] {
    const now = this.#now();
    if (now >= this.#nextExpiry) this.#expire(now);
    const out: OutlierEndpointState[] = [];
    for (const [address, h] of this.#hosts) {
      const s: OutlierEndpointState = {
        address,
        ejected: h.ejectedUntil !== undefined,
        ejections: h.ejections,
        consecutive5xx: h.consecutive5xx,
        consecutiveGatewayErrors: h.consecutiveGateway,
        consecutiveLocalOriginFailures: h.consecutiveLocal,
        ejectionMultiplier: h.multiplier,
      };
      if (h.ejectedUntil !== undefined) s.ejectedUntil = h.ejectedUntil;
      if (this.#policy.successRate !== undefined || this.#policy.failurePercentage !== undefined) {
        s.intervalSuccesses = h.successes;
        s.intervalFailures = h.failures;
      }
      out.push(s);
    }
    return out;
  }

  /**
   * The `interval` check (run by the timer; callable directly): returns expired ejections, runs
   * A50's success-rate and failure-percentage ejection over the interval's counts (then starts new
   * counts), and decays multipliers.
   */
  sweep(): void {
    const now = this.#now();
    this.#expire(now);
    const p = this.#policy;
    if (p.successRate !== undefined || p.failurePercentage !== undefined) {
      if (p.successRate !== undefined) this.#successRateEjection(p.successRate, now);
      if (p.failurePercentage !== undefined) this.#failurePercentageEjection(p.failurePercentage, now);
      for (const h of this.#hosts.values()) {
        h.successes = 0;
        h.failures = 0;
      }
    }
    const base = this.#policy.baseEjectionTimeMs;
    for (const h of this.#hosts.values()) {
      if (h.ejectedUntil === undefined && h.multiplier > 0 && h.lastUnejectedAt !== undefined) {
        if (h.lastUnejectedAt + base <= now) h.multiplier--;
      }
    }
  }

  /** Stops the sweep timer. The detector still answers reads (expiry stays lazy). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #startTimer(): void {
    if (!this.#sweepOn || this.#closed) return;
    const timer = setInterval(() => this.sweep(), Math.max(1, this.#policy.intervalMs));
    timer.unref();
    this.#timer = timer;
  }

  /** A50's success-rate algorithm over the interval's counts. */
  #successRateEjection(sr: SuccessRatePolicy, now: number): void {
    const volume = Math.max(1, sr.requestVolume);
    let n = 0;
    let sum = 0;
    for (const h of this.#hosts.values()) {
      const total = h.successes + h.failures;
      if (total < volume) continue;
      n++;
      sum += h.successes / total;
    }
    if (n === 0 || n < sr.minimumHosts) return;
    const mean = sum / n;
    let squares = 0;
    for (const h of this.#hosts.values()) {
      const total = h.successes + h.failures;
      if (total >= volume) squares += (h.successes / total - mean) ** 2;
    }
    const limit = mean - Math.sqrt(squares / n) * (sr.stdevFactor / 1000);
    for (const h of this.#hosts.values()) {
      if (this.#overRateCap()) return;
      const total = h.successes + h.failures;
      if (total < volume || h.successes / total >= limit) continue;
      if (this.#random() * 100 < sr.enforcementPercentage) this.#ejectNow(h, now);
    }
  }

  /** A50's failure-percentage algorithm over the interval's counts. */
  #failurePercentageEjection(fp: FailurePercentagePolicy, now: number): void {
    if (this.#hosts.size < fp.minimumHosts) return;
    const volume = Math.max(1, fp.requestVolume);
    for (const h of this.#hosts.values()) {
      if (this.#overRateCap()) return;
      const total = h.successes + h.failures;
      if (total < volume || (100 * h.failures) / total <= fp.threshold) continue;
      if (this.#random() * 100 < fp.enforcementPercentage) this.#ejectNow(h, now);
    }
  }

  /** A50's cap, checked before each ejection: more than `maxEjectionPercent` out already. */
  #overRateCap(): boolean {
    return (100 * this.#ejectedCount) / Math.max(1, this.#hosts.size) > this.#policy.maxEjectionPercent;
  }

  /** An ejection by Envoy's consecutive-error rules: refused when it would put more than `maxEjectionPercent` out. True when it ejected. */
  #eject(host: HostState, now: number): boolean {
    if (host.ejectedUntil !== undefined) return false;
    const p = this.#policy;
    const count = Math.max(1, this.#hosts.size);
    const allowed =
      (100 * (this.#ejectedCount + 1)) / count <= p.maxEjectionPercent ||
      (p.alwaysEjectOneHost && this.#ejectedCount === 0);
    if (!allowed) return false;
    this.#ejectNow(host, now);
    return true;
  }

  #ejectNow(host: HostState, now: number): void {
    if (host.ejectedUntil !== undefined) return;
    const p = this.#policy;
    const base = p.baseEjectionTimeMs;
    const max = Math.max(base, p.maxEjectionTimeMs);
    // Envoy grows the backoff only while base × backoff is below the max ejection time.
    if (host.multiplier * base < max) host.multiplier++;
    host.ejections++;
    const until = now + Math.min(base * host.multiplier, max);
    host.ejectedUntil = until;
    this.#ejectedCount++;
    if (until < this.#nextExpiry) this.#nextExpiry = until;
    this.#epoch++;
  }

  #expire(now: number): void {
    if (now < this.#nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const h of this.#hosts.values()) {
      const until = h.ejectedUntil;
      if (until === undefined) continue;
      if (until <= now) {
        h.ejectedUntil = undefined;
        h.lastUnejectedAt = now;
        // Envoy resets every counter when it returns an endpoint.
        h.consecutive5xx = 0;
        h.consecutiveGateway = 0;
        h.consecutiveLocal = 0;
        this.#ejectedCount--;
        this.#epoch++;
      } else if (until < next) {
        next = until;
      }
    }
    this.#nextExpiry = next;
  }

  /** Makes `snapshot`'s endpoints the hosts: new ones start clean, gone ones are forgotten. */
  #sync(snapshot: EndpointSnapshot): void {
    const present = new Set<string>();
    for (const e of snapshot.endpoints) {
      present.add(e.address);
      if (!this.#hosts.has(e.address)) this.#hosts.set(e.address, newHost());
    }
    let next = Number.POSITIVE_INFINITY;
    let ejected = 0;
    for (const [address, h] of this.#hosts) {
      if (!present.has(address)) {
        this.#hosts.delete(address);
        continue;
      }
      if (h.ejectedUntil !== undefined) {
        ejected++;
        if (h.ejectedUntil < next) next = h.ejectedUntil;
      }
    }
    this.#ejectedCount = ejected;
    this.#nextExpiry = next;
    this.#members = snapshot;
    this.#epoch++;
  }
}

function newHost(): HostState {
  return {
    consecutive5xx: 0,
    consecutiveGateway: 0,
    consecutiveLocal: 0,
    ejectedUntil: undefined,
    ejections: 0,
    multiplier: 0,
    lastUnejectedAt: undefined,
    successes: 0,
    failures: 0,
  };
}
