// The run's summary: gathered from the driver's result and every instance's mesh.stats(), and printed as small text tables.
import type { ServiceStatsView } from '@weft/mesh';
import type { Bookinfo, BookinfoInstance } from './bookinfo.js';
import type { DriveResult, Latency } from './drive.js';

/** Calls from one instance to one version of a service (versions from the endpoints' `version` label). */
export interface TrafficRow {
  caller: string;
  service: string;
  version: string;
  requests: number;
  /** Fraction of the caller's calls to `service` that went to this version. */
  share: number;
}

/** One hop as its caller saw it: to the response headers for mesh hops, to the end of the body for the edge. */
export interface HopRow {
  hop: string;
  requests: number;
  failed: number;
  latencyMs: Latency;
}

/** Time spent inside one instance, as its own mesh counted its inbound calls. */
export interface ServerRow {
  service: string;
  version: string;
  requests: number;
  latencyMs: Latency;
}

export interface ErrorRow {
  hop: string;
  /** A weft error code, `HTTP <status>` for an error answer, or the driver's own code at the edge. */
  code: string;
  count: number;
}

export interface Summary {
  edge: DriveResult;
  traffic: TrafficRow[];
  hops: HopRow[];
  servers: ServerRow[];
  errors: ErrorRow[];
  /** Failures at the edge plus failures at every hop; 0 means the run was clean. */
  failed: number;
}

const EDGE_CALLER = 'client';

function label(instance: BookinfoInstance): string {
  return `${instance.service} ${instance.version}`;
}

/** `reviews.default.svc.cluster.local` → `reviews` (or `reviews.other` from another namespace). */
function shortName(service: string, namespace: string): string {
  const [name = service, ns] = service.split('.');
  return ns === undefined || ns === namespace ? name : `${name}.${ns}`;
}

/** Failures in one stats entry, by code: weft's error codes, plus `HTTP <status>` for 4xx and 5xx answers. */
function failuresOf(view: ServiceStatsView): Map<string, number> {
  const out = new Map<string, number>(Object.entries(view.errors));
  for (const [status, n] of Object.entries(view.statuses)) {
    if (Number(status) >= 400) out.set(`HTTP ${status}`, n);
  }
  return out;
}

const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};

/** Services nearest the edge first (they were started last), each one's versions in order: productpage, reviews v1–v3, … */
function callersFirst(instances: readonly BookinfoInstance[]): BookinfoInstance[] {
  const order = [...new Set([...instances].reverse().map((i) => i.service))];
  return [...instances].sort(
    (a, b) => order.indexOf(a.service) - order.indexOf(b.service) || a.version.localeCompare(b.version),
  );
}

export function summarize(bookinfo: Bookinfo, edge: DriveResult): Summary {
  const traffic: TrafficRow[] = [];
  const hops: HopRow[] = [];
  const servers: ServerRow[] = [];
  const errors: ErrorRow[] = [];
  const edgeHop = `${EDGE_CALLER} → productpage`;
  hops.push({ hop: edgeHop, requests: edge.requests, failed: edge.failed, latencyMs: edge.latencyMs });
  for (const [code, count] of Object.entries(edge.errors)) errors.push({ hop: edgeHop, code, count });
  let failed = edge.failed;

  for (const instance of callersFirst(bookinfo.instances)) {
    const namespace = instance.mesh.options.namespace;
    const { outbound, inbound } = instance.mesh.stats();
    const sorted = [...outbound].sort((a, b) => a.service.localeCompare(b.service));
    for (const view of sorted) {
      const service = shortName(view.service, namespace);
      const hop = `${label(instance)} → ${service}`;
      const failures = failuresOf(view);
      const hopFailed = sum(failures.values());
      failed += hopFailed;
      hops.push({ hop, requests: view.requests, failed: hopFailed, latencyMs: view.latencyMs });
      for (const [code, count] of failures) errors.push({ hop, code, count });
      const endpoints = [...view.endpoints].sort((a, b) =>
        (a.labels.version ?? '').localeCompare(b.labels.version ?? ''),
      );
      for (const endpoint of endpoints) {
        traffic.push({
          caller: label(instance),
          service,
          version: endpoint.labels.version ?? endpoint.address,
          requests: endpoint.requests,
          share: view.requests === 0 ? 0 : endpoint.requests / view.requests,
        });
      }
    }
    for (const view of inbound) {
      servers.push({
        service: instance.service,
        version: instance.version,
        requests: view.requests,
        latencyMs: view.latencyMs,
      });
    }
  }
  return { edge, traffic, hops, servers, errors, failed };
}

type Align = 'left' | 'right';

/** A text table: a header row, then the rows, columns padded to their widest cell. */
function table(columns: readonly [string, Align][], rows: readonly string[][]): string[] {
  const widths = columns.map(([title], i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `  ${cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return columns[i]?.[1] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd()}`;
  return [line(columns.map(([title]) => title)), ...rows.map(line)];
}

function ms(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

const LATENCY_COLUMNS: [string, Align][] = [
  ['p50', 'right'],
  ['p90', 'right'],
  ['p99', 'right'],
  ['max', 'right'],
];
const latencyCells = (l: Latency): string[] => [ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)];

export function formatSummary(s: Summary): string {
  const e = s.edge;
  const seconds = e.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(e.sent / seconds) : 0;
  const out: string[] = [
    `Bookinfo on weft: ${e.requests} requests to ${e.url}, ${e.concurrency} at a time, in ${seconds.toFixed(2)} s (${rate} req/s)`,
    '',
    "Requests by service and version (from each caller's mesh.stats().outbound)",
    ...table(
      [
        ['caller', 'left'],
        ['service', 'left'],
        ['version', 'left'],
        ['requests', 'right'],
        ['share', 'right'],
      ],
      s.traffic.map((t) => [t.caller, t.service, t.version, String(t.requests), percent(t.share)]),
    ),
    '',
    "Latency per hop, ms (from the client: whole response, by the driver; others: to response headers, by the caller's mesh)",
    ...table(
      [['hop', 'left'], ['requests', 'right'], ['failed', 'right'], ...LATENCY_COLUMNS],
      s.hops.map((h) => [h.hop, String(h.requests), String(h.failed), ...latencyCells(h.latencyMs)]),
    ),
    '',
    'Time inside each service, ms (from its own mesh.stats().inbound)',
    ...table(
      [['service', 'left'], ['version', 'left'], ['requests', 'right'], ...LATENCY_COLUMNS],
      s.servers.map((r) => [r.service, r.version, String(r.requests), ...latencyCells(r.latencyMs)]),
    ),
    '',
    'Errors by code',
    ...(s.errors.length === 0
      ? ['  none']
      : table(
          [
            ['hop', 'left'],
            ['code', 'left'],
            ['count', 'right'],
          ],
          s.errors.map((r) => [r.hop, r.code, String(r.count)]),
        )),
    '',
    verdict(s),
  ];
  return out.join('\n');
}

function verdict(s: Summary): string {
  const e = s.edge;
  const between = s.failed - e.failed;
  if (s.failed === 0) return `OK: all ${e.requests} requests answered 2xx, and no call between services failed.`;
  const edge =
    e.failed === 0
      ? `every request answered 2xx (productpage shows an apology for a part it could not get, as Bookinfo does)`
      : `${e.failed} of ${e.requests} requests did not answer 2xx`;
  return between === 0 ? `FAILED: ${edge}.` : `FAILED: ${edge}, and ${between} calls between services failed.`;
}
