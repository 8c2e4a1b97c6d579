// Istio's standard HTTP metrics, recorded per call into label sets resolved once and reused.
import type { CallContext, ServerCallContext, WeftHeaders, WeftRequest, WeftResponse } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { retryPolicyFor } from '../../layers/retry/policy.js';

/** Envoy's default histogram bounds, which Istio's sidecars use for all three histograms. */
export const ISTIO_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** The labels Istio's proxies put on every HTTP metric, in the order they print them. */
export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type IstioLabel = (typeof ISTIO_LABELS)[number];
export type IstioLabels = Readonly<Record<IstioLabel, string>>;

/** Istio's value for what a proxy cannot know. */
export const UNKNOWN = 'unknown';

/** Label sets past this many per reporter share one series whose labels are all `unknown`. */
export const MAX_SERIES_PER_REPORTER = 2000;

/** One label set's counter and histograms: plain numbers and typed arrays, nothing allocated per call. */
export class Series {
  requests = 0;
  readonly durationCounts = new Float64Array(ISTIO_BUCKETS.length + 1);
  durationSum = 0;
  readonly requestBytesCounts = new Float64Array(ISTIO_BUCKETS.length + 1);
  requestBytesSum = 0;
  readonly responseBytesCounts = new Float64Array(ISTIO_BUCKETS.length + 1);
  responseBytesSum = 0;

  constructor(readonly labels: IstioLabels) {}

  record(ms: number, requestBytes: number, responseBytes: number): void {
    this.requests++;
    this.durationSum += ms;
    add(this.durationCounts, bucketOf(ms));
    this.requestBytesSum += requestBytes;
    add(this.requestBytesCounts, bucketOf(requestBytes));
    this.responseBytesSum += responseBytes;
    add(this.responseBytesCounts, bucketOf(responseBytes));
  }
}

function add(counts: Float64Array, i: number): void {
  counts[i] = (counts[i] as number) + 1;
}

/** Index of the first bound ≥ value (Prometheus's `le`), or the overflow slot. */
function bucketOf(value: number): number {
  const bounds = ISTIO_BUCKETS;
  let i = 0;
  while (i < bounds.length && value > (bounds[i] as number)) i++;
  return i;
}

/** Who this workload is, as its own labels say (Istio reads the same from the pod). */
export interface WorkloadInfo {
  /** This workload's name: weft's `service` option (one mesh per workload). */
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  trustDomain: string | undefined;
  /** This workload's SPIFFE ID while mTLS is on. */
  principal(): string | undefined;
}

/** Istio's canonical service: the canonical-name label, else `app.kubernetes.io/name`, else `app`. */
function canonicalService(labels: Readonly<Record<string, string>>, fallback: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? fallback;
}

function canonicalRevision(labels: Readonly<Record<string, string>>): string {
  return (
    labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest'
  );
}

/** `reviews.default.svc.cluster.local` → `['reviews', 'default']`. */
function nameAndNamespace(fqdn: string): [string, string] {
  const [name = fqdn, namespace = UNKNOWN] = fqdn.split('.');
  return [name, namespace];
}

/** Body bytes when the body is in memory, else the `content-length` header, else 0 (a stream of unknown length). */
export function bodyBytes(body: unknown, headers: WeftHeaders): number {
  if (typeof body === 'string') return body.length;
  // Not `instanceof Uint8Array`, which walks a stream's whole prototype chain to say no.
  if (ArrayBuffer.isView(body)) return body.byteLength;
  const length = headers['content-length'];
  if (typeof length === 'string') {
    const n = Number(length);
    if (n >= 0) return n;
  }
  return 0;
}

/** Receives each finished call from a stats layer: its duration, status (or error code) and the request and answer. */
export interface CallSink {
  record(
    ctx: CallContext,
    ms: number,
    status: number,
    errorCode: string | undefined,
    request: WeftRequest,
    response: WeftResponse | undefined,
  ): void;
}

/** Series of one status code, by response flags: the common flagless case is one field read. */
class ByFlags {
  plain: Series | undefined = undefined;
  readonly flagged = new Map<string, Series>();
}

type ByStatus = Map<number, ByFlags>;

function leaf(byStatus: ByStatus, status: number): ByFlags {
  let f = byStatus.get(status);
  if (f === undefined) {
    f = new ByFlags();
    byStatus.set(status, f);
  }
  return f;
}

/** The series of one reporter, deduplicated by label values (the caches in front are only shortcuts to them). */
abstract class Reporter {
  readonly #byKey = new Map<string, Series>();
  #overflow: Series | undefined = undefined;

  series(): IterableIterator<Series> {
    return this.#byKey.values();
  }

  protected intern(labels: IstioLabels): Series {
    const key = ISTIO_LABELS.map((l) => labels[l]).join('\u0000');
    let s = this.#byKey.get(key);
    if (s === undefined) {
      if (this.#byKey.size >= MAX_SERIES_PER_REPORTER) {
        this.#overflow ??= new Series(Object.fromEntries(ISTIO_LABELS.map((l) => [l, UNKNOWN])) as IstioLabels);
        return this.#overflow;
      }
      s = new Series(labels);
      this.#byKey.set(key, s);
    }
    return s;
  }

  /** The overflow series, once label sets passed the cap. */
  overflow(): Series | undefined {
    return this.#overflow;
  }
}

/** weft's own per-destination counts, kept beside the Istio series where a call ends. */
export class DestinationCounts {
  /** Attempts after the first. */
  retries = 0;
  /** Calls answered with URX because every retry the policy allows was spent. */
  retriesExhausted = 0;
  /** Calls answered with URX because the destination's retry budget refused a retry the policy allowed. */
  budgetExhausted = 0;
  /** Calls refused UO by the destination's connectionPool limits. */
  poolOverflows = 0;
  /** Calls refused UO by an open circuit breaker. */
  breakerRejections = 0;
  /** Calls answered UO because the destination's connectionPool maxRetries was reached. */
  retryOverflows = 0;
}

const NO_ENDPOINT = Object.freeze({});
const POOL_OVERFLOW = 'WEFT_ERR_UPSTREAM_OVERFLOW';
const CIRCUIT_OPEN = 'WEFT_ERR_CIRCUIT_OPEN';

class DestinationEntry {
  readonly counts = new DestinationCounts();
  /** By the chosen endpoint's labels object (app, version, service account, TLS mode come from it). */
  readonly byEndpointLabels = new WeakMap<object, ByStatus>();
}

/** `reporter="source"`: the calls this workload makes, labelled with the destination the call resolved to. */
export class SourceReporter extends Reporter implements CallSink {
  readonly #self: WorkloadInfo;
  readonly #byService = new Map<string, DestinationEntry>();
  // The last plain call's destination, endpoint labels, status and series: a run of calls that
  // end alike (the common case) skips the caches below.
  #lastService: string | undefined = undefined;
  #lastLabels: object | undefined = undefined;
  #lastStatus = 0;
  #lastSeries: Series | undefined = undefined;

  constructor(self: WorkloadInfo) {
    super();
    this.#self = self;
  }

  /** weft's per-destination counts, by destination service (`unknown` for pass-through). */
  destinations(): IterableIterator<[string, DestinationCounts]> {
    const out = new Map<string, DestinationCounts>();
    for (const [service, entry] of this.#byService) out.set(service === '' ? UNKNOWN : service, entry.counts);
    return out.entries();
  }

  record(
    ctx: CallContext,
    ms: number,
    status: number,
    errorCode: string | undefined,
    request: WeftRequest,
    response: WeftResponse | undefined,
  ): void {
    const requestBytes = bodyBytes(request.body, request.headers);
    const responseBytes = response === undefined ? 0 : bodyBytes(response.body, response.headers);
    const plain = ctx.responseFlags === '' && ctx.attempt === 1;
    const last = this.#lastSeries;
    if (
      plain &&
      last !== undefined &&
      status === this.#lastStatus &&
      ctx.service === this.#lastService &&
      (ctx.endpoint?.labels ?? NO_ENDPOINT) === this.#lastLabels
    ) {
      last.record(ms, requestBytes, responseBytes);
      return;
    }
    const service = ctx.service ?? '';
    let entry = this.#byService.get(service);
    if (entry === undefined) {
      entry = new DestinationEntry();
      this.#byService.set(service, entry);
    }
    const labels = ctx.endpoint?.labels ?? NO_ENDPOINT;
    let byStatus = entry.byEndpointLabels.get(labels);
    if (byStatus === undefined) {
      byStatus = new Map();
      entry.byEndpointLabels.set(labels, byStatus);
    }
    const byFlags = leaf(byStatus, status);
    const flags = ctx.responseFlags;
    let series: Series | undefined;
    if (flags === '') {
      series = byFlags.plain;
      if (series === undefined) {
        series = this.intern(this.#labels(ctx, status, flags));
        byFlags.plain = series;
      }
    } else {
      series = byFlags.flagged.get(flags);
      if (series === undefined) {
        series = this.intern(this.#labels(ctx, status, flags));
        byFlags.flagged.set(flags, series);
      }
      countFlags(entry.counts, flags, errorCode, ctx);
    }
    const attempt = ctx.attempt;
    if (attempt > 1) entry.counts.retries += attempt - 1;
    series.record(ms, requestBytes, responseBytes);
    if (plain) {
      this.#lastService = ctx.service;
      this.#lastLabels = labels;
      this.#lastStatus = status;
      this.#lastSeries = series;
    }
  }

  #labels(ctx: CallContext, status: number, flags: string): IstioLabels {
    const self = this.#self;
    const service = ctx.service;
    const endpointLabels = ctx.endpoint?.labels ?? {};
    const [name, namespace] = service === undefined ? ['PassthroughCluster', UNKNOWN] : nameAndNamespace(service);
    const known = service !== undefined;
    return {
      reporter: 'source',
      source_workload: self.name,
      source_canonical_service: canonicalService(self.labels, self.name),
      source_canonical_revision: canonicalRevision(self.labels),
      source_workload_namespace: self.namespace,
      source_principal: self.principal() ?? UNKNOWN,
      source_app: self.labels.app ?? UNKNOWN,
      source_version: self.labels.version ?? UNKNOWN,
      source_cluster: UNKNOWN,
      destination_workload: known ? name : UNKNOWN,
      destination_workload_namespace: namespace,
      destination_principal: known ? destinationPrincipal(self, name, namespace, ctx) : UNKNOWN,
      destination_app: endpointLabels.app ?? UNKNOWN,
      destination_version: endpointLabels.version ?? UNKNOWN,
      destination_service: service ?? UNKNOWN,
      destination_canonical_service: known ? canonicalService(endpointLabels, name) : UNKNOWN,
      destination_canonical_revision: known ? canonicalRevision(endpointLabels) : UNKNOWN,
      destination_service_name: name,
      destination_service_namespace: namespace,
      destination_cluster: UNKNOWN,
      request_protocol: 'http',
      response_code: String(status),
      grpc_response_status: '',
      response_flags: flags === '' ? '-' : flags,
      // Istio's own value on the source side: the client cannot tell the server's policy.
      connection_security_policy: UNKNOWN,
    };
  }
}

/**
 * The SPIFFE ID the destination proves with mTLS on: the one secure naming checks for the endpoint
 * (its `weft.io/service-account` label, else the service's name); `unknown` when the endpoint takes
 * no mTLS (`security.istio.io/tlsMode: disabled`) or mTLS is off.
 */
function destinationPrincipal(self: WorkloadInfo, name: string, namespace: string, ctx: CallContext): string {
  const labels = ctx.endpoint?.labels;
  if (self.trustDomain === undefined || labels === undefined) return UNKNOWN;
  if (labels['security.istio.io/tlsMode'] === 'disabled') return UNKNOWN;
  // A DestinationRule's tls.mode decides when set (DISABLE, SIMPLE, MUTUAL carry no mesh identity).
  const rule = (ctx as ClientCallContext).policy?.forHost(ctx.service ?? '')?.destinationRules[0]?.spec as
    | { trafficPolicy?: { tls?: { mode?: string } } }
    | undefined;
  const mode = rule?.trafficPolicy?.tls?.mode;
  if (mode !== undefined && mode !== 'ISTIO_MUTUAL') return UNKNOWN;
  return `spiffe://${self.trustDomain}/ns/${namespace}/sa/${labels['weft.io/service-account'] ?? name}`;
}

function countFlags(counts: DestinationCounts, flags: string, errorCode: string | undefined, ctx: CallContext): void {
  if (flags.includes('URX')) {
    // The retry layer flags URX when the attempts ran out or when the budget refused one: fewer
    // retries than the call's policy allows means the budget did (read on this rare path only).
    let allowed = 0;
    try {
      allowed = retryPolicyFor(ctx as ClientCallContext).attempts;
    } catch {
      // A malformed per-call override never reached the retry loop; count it as attempts spent.
    }
    if (ctx.attempt - 1 < allowed) counts.budgetExhausted++;
    else counts.retriesExhausted++;
  }
  if (flags.includes('UO')) {
    if (errorCode === POOL_OVERFLOW) counts.poolOverflows++;
    else if (errorCode === CIRCUIT_OPEN) counts.breakerRejections++;
    else counts.retryOverflows++;
  }
}

/** What the server side can read of the response the application sent (the Node response, when there is one). */
interface WithNodeResponse {
  res?: { getHeader(name: string): unknown } | undefined;
}

function sentBytes(ctx: CallContext): number {
  const length = (ctx as WithNodeResponse).res?.getHeader('content-length');
  const n = typeof length === 'number' ? length : typeof length === 'string' ? Number(length) : 0;
  // NaN (a malformed header) and negatives count as nothing sent.
  if (!(n > 0)) return 0;
  return n;
}

/** `reporter="destination"`: the calls this workload receives, labelled with the caller mTLS proved. */
export class DestinationReporter extends Reporter implements CallSink {
  readonly #self: WorkloadInfo;
  readonly #service: string;
  /** By the peer's principal ('' over plaintext). */
  readonly #byPeer = new Map<string, ByStatus>();
  // The last flagless call's caller, status and series (a run of calls that end alike skips the caches).
  #lastPeer: string | undefined = undefined;
  #lastStatus = 0;
  #lastSeries: Series | undefined = undefined;

  constructor(self: WorkloadInfo, service: string) {
    super();
    this.#self = self;
    this.#service = service;
  }

  record(
    ctx: CallContext,
    ms: number,
    status: number,
    _errorCode: string | undefined,
    request: WeftRequest,
    response: WeftResponse | undefined,
  ): void {
    const peer = (ctx as ServerCallContext).peer;
    const key = peer === undefined ? '' : peer.spiffeId;
    const requestBytes = bodyBytes(request.body, request.headers);
    const answered = response === undefined ? 0 : sentBytes(ctx);
    const flags = ctx.responseFlags;
    const last = this.#lastSeries;
    if (flags === '' && last !== undefined && status === this.#lastStatus && key === this.#lastPeer) {
      last.record(ms, requestBytes, answered);
      return;
    }
    let byStatus = this.#byPeer.get(key);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#byPeer.set(key, byStatus);
    }
    const byFlags = leaf(byStatus, status);
    let series: Series | undefined;
    if (flags === '') {
      series = byFlags.plain;
      if (series === undefined) {
        series = this.intern(this.#labels(ctx as ServerCallContext, status, flags));
        byFlags.plain = series;
      }
      this.#lastPeer = key;
      this.#lastStatus = status;
      this.#lastSeries = series;
    } else {
      series = byFlags.flagged.get(flags);
      if (series === undefined) {
        series = this.intern(this.#labels(ctx as ServerCallContext, status, flags));
        byFlags.flagged.set(flags, series);
      }
    }
    series.record(ms, requestBytes, answered);
  }

  #labels(ctx: ServerCallContext, status: number, flags: string): IstioLabels {
    const self = this.#self;
    const peer = ctx.peer;
    const [name, namespace] = nameAndNamespace(this.#service);
    return {
      reporter: 'destination',
      // The caller's service account: weft's default identity names it after its workload.
      source_workload: peer?.serviceAccount ?? UNKNOWN,
      source_canonical_service: peer?.serviceAccount ?? UNKNOWN,
      source_canonical_revision: peer === undefined ? UNKNOWN : 'latest',
      source_workload_namespace: peer?.namespace ?? UNKNOWN,
      source_principal: peer?.spiffeId ?? UNKNOWN,
      source_app: UNKNOWN,
      source_version: UNKNOWN,
      source_cluster: UNKNOWN,
      destination_workload: self.name,
      destination_workload_namespace: self.namespace,
      destination_principal: peer === undefined ? UNKNOWN : (self.principal() ?? UNKNOWN),
      destination_app: self.labels.app ?? UNKNOWN,
      destination_version: self.labels.version ?? UNKNOWN,
      destination_service: this.#service,
      destination_canonical_service: canonicalService(self.labels, self.name),
      destination_canonical_revision: canonicalRevision(self.labels),
      destination_service_name: name,
      destination_service_namespace: namespace,
      destination_cluster: UNKNOWN,
      request_protocol: 'http',
      response_code: String(status),
      grpc_response_status: '',
      response_flags: flags === '' ? '-' : flags,
      connection_security_policy: peer === undefined ? 'none' : 'mutual_tls',
    };
  }
}
