// One mesh's Prometheus registry: Istio's standard metrics and weft's own, rendered by prom-client at scrape time.
import { type Metric, Registry } from 'prom-client';
import type { BreakerView } from '../../layers/breaker/index.js';
import type { DestinationState } from '../../mesh.js';
import {
  type DestinationReporter,
  ISTIO_BUCKETS,
  type IstioLabels,
  type Series,
  type SourceReporter,
} from './istio.js';

/** The content type of `mesh.metrics()`: Prometheus's text format 0.0.4. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

type Labels = Readonly<Record<string, string | number>>;

interface Sample {
  labels?: Labels;
  sharedLabels?: Labels;
  value: number;
  metricName?: string;
}

/**
 * A metric prom-client renders but weft keeps: `read()` turns state into samples at scrape time.
 * prom-client's own Counter and Histogram hash their labels on every observation (a string of
 * all 25 label values per call); weft records into pre-resolved series and hands prom-client
 * the finished values, so the registry does only the formatting and escaping.
 */
class ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly read: () => Sample[],
  ) {}

  get(): { name: string; help: string; type: string; values: Sample[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: this.aggregator };
  }
}

function histogramSamples(
  name: string,
  series: Iterable<Series>,
  pick: (s: Series) => [Float64Array, number],
): Sample[] {
  const out: Sample[] = [];
  const bucket = `${name}_bucket`;
  for (const s of series) {
    const [counts, sum] = pick(s);
    let seen = 0;
    for (let i = 0; i < ISTIO_BUCKETS.length; i++) {
      seen += counts[i] as number;
      out.push({ metricName: bucket, labels: { le: ISTIO_BUCKETS[i] as number }, sharedLabels: s.labels, value: seen });
    }
    out.push({ metricName: bucket, labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.requests });
    out.push({ metricName: `${name}_sum`, sharedLabels: s.labels, value: sum });
    out.push({ metricName: `${name}_count`, sharedLabels: s.labels, value: s.requests });
  }
  return out;
}

/** What the mesh hands the registry to read at scrape time. */
export interface MeshMetricsSources {
  source: SourceReporter;
  destination: DestinationReporter;
  breakers(): BreakerView[];
  endpoints(): DestinationState[];
  /** The transport's undici pools: requests on the wire and waiting for a connection, per destination. */
  pools(): { destination: string; connected: number; running: number; pending: number }[];
  /** The workload certificate's expiry, while mTLS is on. */
  certificateNotAfter(): Date | undefined;
  policy(): { version: number; rejections: number };
  /** The registry's discovery sources, with their staleness. */
  discovery?(): { name: string; services: number; stale: { since: number } | undefined }[];
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;

/** `reviews.default.svc.cluster.local|v1` → destination and subset labels. */
function destinationLabels(key: string): { destination_service: string; destination_subset: string } {
  const bar = key.indexOf('|');
  return bar === -1
    ? { destination_service: key, destination_subset: '' }
    : { destination_service: key.slice(0, bar), destination_subset: key.slice(bar + 1) };
}

/** A mesh's metrics: its own prom-client registry (never the global one), so meshes in one process never collide. */
export class MeshMetrics {
  readonly registry = new Registry();
  readonly contentType = METRICS_CONTENT_TYPE;

  constructor(sources: MeshMetricsSources) {
    const reporters = (): Series[] => {
      const all = [...sources.source.series(), ...sources.destination.series()];
      for (const o of [sources.source.overflow(), sources.destination.overflow()]) if (o !== undefined) all.push(o);
      return all;
    };
    const metrics: ScrapedMetric[] = [
      new ScrapedMetric(
        'istio_requests_total',
        'Requests handled, by source and destination (Istio standard metric)',
        'counter',
        () => reporters().map((s) => ({ labels: s.labels as IstioLabels, value: s.requests })),
      ),
      new ScrapedMetric(
        'istio_request_duration_milliseconds',
        'Request duration in milliseconds (Istio standard metric)',
        'histogram',
        () =>
          histogramSamples('istio_request_duration_milliseconds', reporters(), (s) => [
            s.durationCounts,
            s.durationSum,
          ]),
      ),
      new ScrapedMetric('istio_request_bytes', 'Request body sizes in bytes (Istio standard metric)', 'histogram', () =>
        histogramSamples('istio_request_bytes', reporters(), (s) => [s.requestBytesCounts, s.requestBytesSum]),
      ),
      new ScrapedMetric(
        'istio_response_bytes',
        'Response body sizes in bytes (Istio standard metric)',
        'histogram',
        () => histogramSamples('istio_response_bytes', reporters(), (s) => [s.responseBytesCounts, s.responseBytesSum]),
      ),
      ...weftMetrics(sources),
    ];
    for (const m of metrics) this.registry.registerMetric(m as unknown as Metric);
  }

  /** The Prometheus text of this mesh. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function perDestination(
  sources: MeshMetricsSources,
  pick: (c: import('./istio.js').DestinationCounts) => number,
): () => Sample[] {
  return () =>
    [...sources.source.destinations()].map(([service, c]) => ({
      labels: { destination_service: service },
      value: pick(c),
    }));
}

function weftMetrics(sources: MeshMetricsSources): ScrapedMetric[] {
  return [
    new ScrapedMetric(
      'weft_circuit_breaker_state',
      'Circuit breaker state per destination: 1 for the current state (closed, open, half-open), 0 for the others',
      'gauge',
      () =>
        sources.breakers().flatMap((b) =>
          BREAKER_STATES.map((state) => ({
            labels: { ...destinationLabels(b.destination), state },
            value: b.state === state ? 1 : 0,
          })),
        ),
    ),
    new ScrapedMetric(
      'weft_circuit_breaker_opened_total',
      'Times a destination circuit breaker opened',
      'counter',
      () => sources.breakers().map((b) => ({ labels: destinationLabels(b.destination), value: b.opened })),
    ),
    new ScrapedMetric(
      'weft_circuit_breaker_rejected_total',
      'Calls failed fast (UO) by an open circuit breaker',
      'counter',
      () => sources.breakers().map((b) => ({ labels: destinationLabels(b.destination), value: b.rejected })),
    ),
    new ScrapedMetric(
      'weft_outlier_ejected',
      'Whether outlier detection has the endpoint ejected now (1) or not (0)',
      'gauge',
      () =>
        sources.endpoints().flatMap((d) =>
          d.endpoints.map((e) => ({
            labels: { destination_service: d.service, endpoint: e.address },
            value: e.ejected ? 1 : 0,
          })),
        ),
    ),
    new ScrapedMetric('weft_outlier_ejections_total', 'Times outlier detection ejected the endpoint', 'counter', () =>
      sources.endpoints().flatMap((d) =>
        d.endpoints.map((e) => ({
          labels: { destination_service: d.service, endpoint: e.address },
          value: e.outlier?.ejections ?? 0,
        })),
      ),
    ),
    new ScrapedMetric(
      'weft_retries_total',
      'Retry attempts sent (attempts after the first)',
      'counter',
      perDestination(sources, (c) => c.retries),
    ),
    new ScrapedMetric(
      'weft_retries_exhausted_total',
      'Calls answered with URX, by cause: every retry the policy allows spent (attempts), or the destination retry budget refused one (budget)',
      'counter',
      () =>
        [...sources.source.destinations()].flatMap(([service, c]) => [
          { labels: { destination_service: service, cause: 'attempts' }, value: c.retriesExhausted },
          { labels: { destination_service: service, cause: 'budget' }, value: c.budgetExhausted },
        ]),
    ),
    new ScrapedMetric('weft_upstream_overflow_total', 'Calls refused or cut short UO, by cause', 'counter', () =>
      [...sources.source.destinations()].flatMap(([service, c]) => [
        { labels: { destination_service: service, cause: 'connection_pool' }, value: c.poolOverflows },
        { labels: { destination_service: service, cause: 'circuit_breaker' }, value: c.breakerRejections },
        { labels: { destination_service: service, cause: 'max_retries' }, value: c.retryOverflows },
      ]),
    ),
    new ScrapedMetric('weft_upstream_requests_active', 'Requests on the wire to the destination now', 'gauge', () =>
      sumByDestination(sources.pools(), (p) => p.running),
    ),
    new ScrapedMetric(
      'weft_upstream_requests_pending',
      'Requests waiting for a connection to the destination now',
      'gauge',
      () => sumByDestination(sources.pools(), (p) => p.pending),
    ),
    new ScrapedMetric('weft_upstream_connections', 'Open connections to the destination', 'gauge', () =>
      sumByDestination(sources.pools(), (p) => p.connected),
    ),
    new ScrapedMetric(
      'weft_workload_certificate_expiry_timestamp_seconds',
      'When the workload certificate expires (Unix seconds); absent while mTLS is off',
      'gauge',
      () => {
        const notAfter = sources.certificateNotAfter();
        return notAfter === undefined ? [] : [{ value: notAfter.getTime() / 1000 }];
      },
    ),
    new ScrapedMetric(
      'weft_discovery_source_stale_seconds',
      'How long a discovery source has failed to refresh (its last endpoints stay in force); 0 when fresh',
      'gauge',
      () =>
        (sources.discovery?.() ?? []).map((s) => ({
          labels: { source: s.name.split(' ')[0] ?? s.name },
          value: s.stale === undefined ? 0 : (Date.now() - s.stale.since) / 1000,
        })),
    ),
    new ScrapedMetric('weft_policy_snapshot_version', 'Version of the policy snapshot in force', 'gauge', () => [
      { value: sources.policy().version },
    ]),
    new ScrapedMetric(
      'weft_policy_updates_rejected_total',
      'Policy loads rejected whole (the last good snapshot kept serving)',
      'counter',
      () => [{ value: sources.policy().rejections }],
    ),
  ];
}

function sumByDestination(
  pools: { destination: string; connected: number; running: number; pending: number }[],
  pick: (p: { connected: number; running: number; pending: number }) => number,
): Sample[] {
  const by = new Map<string, number>();
  for (const p of pools) by.set(p.destination, (by.get(p.destination) ?? 0) + pick(p));
  return [...by].map(([destination_service, value]) => ({ labels: { destination_service }, value }));
}
