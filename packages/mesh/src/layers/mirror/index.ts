// The mirror layer: Istio's traffic mirroring, a fire-and-forget copy of a share of a route's requests to other hosts.
import { finished, type Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { type Handler, type Layer, WeftError, type WeftHeaders, type WeftRequest, type WeftResponse } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { type MirrorTarget, mirrorTargets, NO_MIRRORS } from './policy.js';

export { compileMirrors, type MirrorTarget, mirrorTargets, NO_MIRRORS } from './policy.js';

const debug = debuglog('weft');

/**
 * Sends one mirror copy to `target` and answers with its response; supplied by the pipeline,
 * which routes it by `target` (host, subset, port), never by the copy's `-shadow` authority.
 * `deadline` is the primary call's (absolute, `Date.now()` clock; `Infinity` for none): Envoy
 * bounds a shadow request by the route's timeout, so the copy should not outlive it either.
 * `primary` is the primary call's context, for what the copy carries on from it (its trace).
 */
export type MirrorSend = (
  request: WeftRequest,
  target: MirrorTarget,
  deadline: number,
  primary: ClientCallContext,
) => Promise<WeftResponse>;

export interface MirrorOptions {
  send: MirrorSend;
  /** Most mirror copies in flight at once (sent, response body not yet drained); more are dropped. Default 64. */
  maxInFlight?: number;
  /** Source of uniform draws in [0, 1); `Math.random` by default. Tests inject a seeded one. */
  random?: () => number;
  /** Cluster domain short mirror hosts are qualified with (`reviews` → `reviews.<ns>.svc.<domain>`). Default `cluster.local`. */
  clusterDomain?: string;
}

export const MIRROR_DEFAULTS = {
  /** Copies in flight at once. */
  maxInFlight: 64,
  clusterDomain: 'cluster.local',
} as const;

/**
 * Envoy's shadow authority: `-shadow` goes after the host, before any port (`reviews` →
 * `reviews-shadow`, `reviews:9080` → `reviews-shadow:9080`, `[::1]:80` → `[::1]-shadow:80`),
 * so the mirror target's logs tell copies from real traffic.
 */
export function shadowAuthority(authority: string): string {
  // Envoy's HeaderUtility::getPortStart: the last ':' is a port only when it is after any ']'.
  const colon = authority.lastIndexOf(':');
  if (colon < 0 || authority.lastIndexOf(']') > colon) return `${authority}-shadow`;
  return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
}

/** The copy sent to a mirror: same method, path and body, its own headers, the authority shadowed. */
function shadowCopy(request: WeftRequest): WeftRequest {
  const headers: WeftHeaders = {};
  for (const name of Object.keys(request.headers)) {
    const value = request.headers[name];
    headers[name] = Array.isArray(value) ? [...value] : value;
  }
  const host = headers.host;
  if (typeof host === 'string') headers.host = shadowAuthority(host);
  return {
    method: request.method,
    scheme: request.scheme,
    authority: shadowAuthority(request.authority),
    path: request.path,
    headers,
    // Strings and bytes are shared, not copied: neither the primary nor a copy writes into them.
    body: request.body,
  };
}

const isStream = (body: WeftResponse['body']): body is Readable =>
  body !== null && typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe === 'function';

/**
 * Mirrors the call's route (`ctx.route.http.mirror`/`mirrors`), as Envoy's request mirror
 * policies do in an Istio sidecar: for each target drawn (each with its own share), a copy
 * is sent and its response ignored.
 * - The copy never delays or fails the primary: the primary is sent first, the copies after it
 *   without being awaited; a copy's failure is counted and logged (`NODE_DEBUG=weft`), and its
 *   response body is read to the end and thrown away so its connection is freed.
 * - A request whose body is a stream is not mirrored (a stream is read once, and the primary
 *   reads it): counted as `skipped`. Envoy buffers the body to copy it; weft does not.
 * - At most `maxInFlight` copies are in flight; copies beyond that are `dropped`, so a slow
 *   mirror target cannot pile up memory and sockets in the caller.
 * It sits below fault (Envoy mirrors in the router, after the fault filter: an aborted request
 * is not mirrored) and above retry (one copy per call, not per attempt, as Envoy shadows once).
 * Counters are per copy: a request mirrored to two targets counts twice.
 */
export class MirrorLayer implements Layer<ClientCallContext> {
  readonly role = 'mirror';
  readonly #send: MirrorSend;
  readonly #maxInFlight: number;
  readonly #random: () => number;
  readonly #targetsOf: (route: NonNullable<ClientCallContext['route']>) => readonly MirrorTarget[];
  #inFlight = 0;
  #sent = 0;
  #dropped = 0;
  #failed = 0;
  #skipped = 0;

  constructor(options: MirrorOptions) {
    if (options === null || typeof options !== 'object' || options.send === undefined) {
      throw new WeftError('WEFT_ERR_OPTION_REQUIRED', 'mirror: `send` is required (how a copy reaches its target)');
    }
    if (typeof options.send !== 'function') {
      throw new WeftError(
        'WEFT_ERR_OPTION_TYPE',
        'mirror: `send` must be a function (request, target, deadline, primary)',
      );
    }
    const maxInFlight = options.maxInFlight ?? MIRROR_DEFAULTS.maxInFlight;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new WeftError(
        'WEFT_ERR_OPTION_VALUE',
        `mirror: \`maxInFlight\` must be a whole number of at least 1; found ${String(maxInFlight)}`,
      );
    }
    const random = options.random ?? Math.random;
    if (typeof random !== 'function') {
      throw new WeftError('WEFT_ERR_OPTION_TYPE', 'mirror: `random` must be a function returning a number in [0, 1)');
    }
    this.#send = options.send;
    this.#maxInFlight = maxInFlight;
    this.#random = random;
    this.#targetsOf = mirrorTargets(options.clusterDomain ?? MIRROR_DEFAULTS.clusterDomain);
  }

  /** Copies started. */
  get sent(): number {
    return this.#sent;
  }
  /** Copies not started because `maxInFlight` copies were already in flight. */
  get dropped(): number {
    return this.#dropped;
  }
  /** Copies that failed: `send` rejected or threw, or the response body errored. */
  get failed(): number {
    return this.#failed;
  }
  /** Copies not made because the request body is a stream. */
  get skipped(): number {
    return this.#skipped;
  }
  /** Copies in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
    return (request, ctx) => {
      const route = ctx.route;
      if (route === undefined || (route.http.mirror === undefined && route.http.mirrors === undefined)) {
        return next(request, ctx);
      }
      const targets = this.#targetsOf(route);
      if (targets === NO_MIRRORS) return next(request, ctx);
      let copies: [WeftRequest, MirrorTarget][] | undefined;
      for (const target of targets) {
        if (target.fraction < 1 && this.#random() >= target.fraction) continue;
        const body = request.body;
        if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
          this.#skipped++;
          continue;
        }
        if (this.#inFlight >= this.#maxInFlight) {
          this.#dropped++;
          continue;
        }
        // The slot is taken now and the copy made now, before the layers below can touch the request.
        this.#inFlight++;
        copies ??= [];
        copies.push([shadowCopy(request), target]);
      }
      if (copies === undefined) return next(request, ctx);
      const deadline = ctx.deadline;
      try {
        // The primary first: its request is on its way before any copy is handed to `send`.
        return next(request, ctx);
      } finally {
        for (const [copy, target] of copies) this.#start(copy, target, deadline, ctx);
      }
    };
  }

  #start(copy: WeftRequest, target: MirrorTarget, deadline: number, primary: ClientCallContext): void {
    this.#sent++;
    let pending: Promise<WeftResponse>;
    try {
      pending = this.#send(copy, target, deadline, primary);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (response) => this.#drain(response, target),
      (error: unknown) => {
        this.#fail(target, error);
        this.#inFlight--;
      },
    );
  }

  /** Reads the copy's response body to the end (freeing its connection) and only then frees the slot. */
  #drain(response: WeftResponse, target: MirrorTarget): void {
    const body = response?.body;
    if (!isStream(body)) {
      this.#inFlight--;
      return;
    }
    let released = false;
    const release = (error?: unknown): void => {
      if (released) return;
      released = true;
      if (error) this.#fail(target, error);
      this.#inFlight--;
    };
    try {
      finished(body, (error) => release(error));
      body.resume();
    } catch (error) {
      release(error);
      body.destroy();
    }
  }

  #fail(target: MirrorTarget, error: unknown): void {
    this.#failed++;
    debug('mirror copy to %s failed: %s', target.host, error instanceof Error ? error.message : String(error));
  }
}

/** The mirror layer; see {@link MirrorLayer}. */
export function mirror(options: MirrorOptions): MirrorLayer {
  return new MirrorLayer(options);
}
