// The per-call context: what a call is for and where it stands, shared by every layer of one call.
import type { Endpoint, EndpointSnapshot } from './endpoint.js';

/**
 * One instance per call, made by the adapter that received it. Every field exists from the
 * start (a stable object shape keeps the hot path fast); layers fill them in as the call
 * moves down the pipeline.
 */
export class CallContext {
  /** Fully qualified destination service, once resolved; `undefined` for pass-through traffic. */
  service: string | undefined = undefined;
  /** The destination's endpoints as resolved for this call; `undefined` for pass-through traffic. */
  snapshot: EndpointSnapshot | undefined = undefined;
  /** The endpoint the balancer chose for the current attempt. */
  endpoint: Endpoint | undefined = undefined;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt = 1;
  /** Absolute time (ms since the epoch, `Date.now()` clock) after which the call has failed; `Infinity` for none. */
  deadline: number;
  /** The caller's cancellation, if it gave one. */
  signal: AbortSignal | undefined;
  /** `performance.now()` when the call entered the pipeline. */
  readonly startedAt: number;
  /** Envoy-style response flags set by layers (`UH`, `UF`, `UT`, …), for telemetry. */
  responseFlags = '';

  constructor(deadline = Number.POSITIVE_INFINITY, signal?: AbortSignal) {
    this.deadline = deadline;
    this.signal = signal;
    this.startedAt = performance.now();
  }

  /** Adds an Envoy response flag (`UH`, `UT`, `DI`, …) once, keeping those already set (`DI,UT`). */
  addResponseFlag(flag: string): void {
    const flags = this.responseFlags;
    if (flag === '' || flags === flag) return;
    if (flags === '') this.responseFlags = flag;
    else if (!flags.split(',').includes(flag)) this.responseFlags = `${flags},${flag}`;
  }

  /** Milliseconds left before the deadline (may be ≤ 0); `Infinity` when there is none. */
  remainingMs(): number {
    return this.deadline === Number.POSITIVE_INFINITY ? this.deadline : this.deadline - Date.now();
  }
}

/** Who called, as mutual TLS proved it: the SPIFFE ID of the peer's certificate. */
export interface PeerIdentity {
  /** `spiffe://cluster.local/ns/default/sa/productpage` */
  readonly spiffeId: string;
  /** The ID without its scheme, as AuthorizationPolicy `principals` name it: `cluster.local/ns/default/sa/productpage`. */
  readonly principal: string;
  readonly trustDomain: string;
  /** From Istio's workload form `/ns/<namespace>/sa/<service-account>`; undefined for other paths. */
  readonly namespace: string | undefined;
  readonly serviceAccount: string | undefined;
}

/** The context of an inbound call; the server adapters add what they know of the caller. */
export class ServerCallContext extends CallContext {
  /** The service this process serves, as the mesh was told. */
  localService = '';
  /** Remote address of the connection. */
  remoteAddress: string | undefined = undefined;
  /** The port the call arrived on. */
  localPort = 0;
  /** The caller's identity when it came over mutual TLS; undefined for plaintext. */
  peer: PeerIdentity | undefined = undefined;
  /** Claims of the request's validated JWT (RequestAuthentication), and its `iss/sub`. */
  jwt: { readonly principal: string; readonly claims: Readonly<Record<string, unknown>> } | undefined = undefined;
}
