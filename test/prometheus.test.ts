// A real Prometheus scrapes two meshes on loopback; the PromQL of Istio's Service and Workload dashboards gives what the traffic implies.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { METRICS_CONTENT_TYPE, type Mesh } from '@weft/mesh';
import { CertificateAuthority } from '@weft/security';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';

/** Debian's prometheus binary (`apt-get install -y prometheus`, which .ci/run does when it is missing). */
function findPrometheus(): string | undefined {
  for (const candidate of ['/usr/bin/prometheus', '/usr/local/bin/prometheus'])
    if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const PROMETHEUS = findPrometheus();
if (PROMETHEUS === undefined) {
  console.warn(
    'test/prometheus.test.ts skipped: no prometheus binary on this machine (install it with `apt-get install -y prometheus`; .ci/run does)',
  );
}

const OK_CALLS = 40;
const FAILED_CALLS = 10;
/** What the backend takes to answer /ok: inside Istio's (100, 250] ms bucket. */
const SLOW_MS = 120;
const SCRAPE_INTERVAL_S = 1;

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A free loopback port: bound, read, released. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Serves each mesh's `metrics()` at `/<name>` on 127.0.0.1. */
async function metricsServer(meshes: Record<string, Mesh>): Promise<Server> {
  const server = createServer((req, res) => {
    const m = meshes[(req.url ?? '/').slice(1)];
    if (m === undefined) {
      res.writeHead(404).end();
      return;
    }
    m.metrics().then(
      (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return server;
}

interface PromResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

async function query(base: string, promql: string, time?: number): Promise<PromResult[]> {
  const params = new URLSearchParams({ query: promql });
  if (time !== undefined) params.set('time', String(time));
  const res = await fetch(`${base}/api/v1/query?${params}`);
  const body = (await res.json()) as { status: string; data: { result: PromResult[] }; error?: string };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  return body.data.result;
}

async function scalar(base: string, promql: string, time: number): Promise<number> {
  const result = await query(base, promql, time);
  expect(result, promql).toHaveLength(1);
  return Number(result[0]?.value?.[1]);
}

/** Polls `check` every 250 ms for at most `ms`; fails with `what` if it never holds. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  for (let i = 0; i < Math.ceil(ms / 250) + 1; i++) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) break;
    await sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function startPrometheus(binary: string, targets: string, paths: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-prometheus-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const jobs = paths
    .map(
      (path) => `  - job_name: ${path}
    metrics_path: /${path}
    static_configs:
      - targets: ['${targets}']`,
    )
    .join('\n');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: ${SCRAPE_INTERVAL_S}s\n  evaluation_interval: ${SCRAPE_INTERVAL_S}s\nscrape_configs:\n${jobs}\n`,
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.console.templates=/dev/null',
      '--web.console.libraries=/dev/null',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  cleanup.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  const base = `http://127.0.0.1:${port}`;
  await until(`Prometheus ready at ${base} (log: ${log})`, 20_000, async () => (await fetch(`${base}/-/ready`)).ok);
  return base;
}

describe.skipIf(PROMETHEUS === undefined)('a real Prometheus scraping weft', () => {
  it('answers the PromQL of Istio’s dashboards with what the traffic implies', { timeout: 90_000 }, async () => {
    const ca = await CertificateAuthority.create();
    const backend = await mesh({ service: 'backend', version: 'v1', security: { identity: { ca } }, logger: false });
    const backApp = express();
    backApp.use(backend.express());
    backApp.get('/ok/:id', async (_req, res) => {
      await sleep(SLOW_MS);
      res.json({ ok: true });
    });
    backApp.get('/fail/:id', (_req, res) => {
      res.status(503).json({ ok: false });
    });
    const backServer = await backend.listen(backApp);

    const frontend = await mesh({
      service: 'frontend',
      version: 'v1',
      security: { identity: { ca } },
      discovery: { static: { backend: [backServer.address] } },
      logger: false,
    });
    const frontApp = express();
    frontApp.use(frontend.express());
    frontApp.get(/.*/, async (req, res) => {
      const answer = await frontend.fetch(`http://backend${req.url}`);
      res.status(answer.status).send(await answer.text());
    });
    const frontServer = await frontend.listen(frontApp);
    const call = async (path: string) => {
      const res = await fetch(`http://${frontServer.address}${path}`);
      await res.text();
      return res.status;
    };

    const metrics = await metricsServer({ frontend, backend });
    const target = `127.0.0.1:${(metrics.address() as AddressInfo).port}`;
    const prom = await startPrometheus(PROMETHEUS as string, target, ['frontend', 'backend']);

    // Phase 0: one call of each kind, so every series exists before the measured traffic.
    expect(await call('/ok/0')).toBe(200);
    expect(await call('/fail/0')).toBe(503);
    const backendSeries = 'istio_requests_total{reporter="destination",destination_workload="backend"}';
    const frontendSeries = 'istio_requests_total{reporter="source",source_workload="frontend"}';
    await until('two scrapes of the phase-0 counts from each mesh', 20_000, async () => {
      for (const series of [backendSeries, frontendSeries]) {
        const samples = await query(prom, `count_over_time(${series}[1m])`);
        if (samples.length !== 2 || samples.some((s) => Number(s.value?.[1]) < 2)) return false;
      }
      return true;
    });
    const before = Date.now() / 1000;

    // Phase 1, measured: OK_CALLS slow 200s and FAILED_CALLS fast 503s, ten at a time.
    const statuses: number[] = [];
    for (let i = 0; i < (OK_CALLS + FAILED_CALLS) / 10; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => {
        const n = i * 10 + j;
        return call(n < FAILED_CALLS ? `/fail/${n + 1}` : `/ok/${n + 1}`);
      });
      statuses.push(...(await Promise.all(batch)));
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(OK_CALLS);
    expect(statuses.filter((s) => s === 503)).toHaveLength(FAILED_CALLS);
    const total = OK_CALLS + FAILED_CALLS + 2;
    await until('Prometheus to scrape the final counts of both meshes', 20_000, async () => {
      for (const series of [backendSeries, frontendSeries]) {
        const r = await query(prom, `sum(${series})`);
        if (Number(r[0]?.value?.[1]) !== total) return false;
      }
      return true;
    });
    await sleep(SCRAPE_INTERVAL_S * 1000 + 200);

    // The window of a target (each is scraped on its own schedule): from just before its last
    // scrape that saw only phase 0 to just after its last scrape. Prometheus extrapolates a rate
    // over the 0.1 s beyond the samples alike for every series of the target, so rates are the
    // phase-1 counts over the time between those two scrapes.
    const windowOf = async (series: string) => {
      const raw = await query(prom, `${series.replace('}', ',response_code="200"}')}[2m]`);
      const samples = (raw[0]?.values ?? []).map(([t, v]) => [t, Number(v)] as const);
      const start = samples.filter(([t, v]) => v === 1 && t <= before).at(-1)?.[0];
      const last = samples.at(-1)?.[0];
      expect(start, `a scrape of ${series} between phase 0 and phase 1`).toBeDefined();
      const at = (last as number) + 0.05;
      return {
        at,
        sampled: (last as number) - (start as number),
        window: `${Math.round((at - (start as number) + 0.05) * 1000)}ms`,
      };
    };
    const { at, sampled, window } = await windowOf(backendSeries);
    const svc = 'destination_service=~"backend.default.svc.cluster.local"';

    // Service dashboard, "Incoming Requests By Source And Response Code" (rate by response code).
    const byCode = await query(
      prom,
      `round(sum(rate(istio_requests_total{reporter="destination",${svc}}[${window}])) by (source_workload, source_workload_namespace, response_code), 0.001)`,
      at,
    );
    const rate = (code: string) => Number(byCode.find((r) => r.metric.response_code === code)?.value?.[1]);
    expect(byCode.map((r) => r.metric.source_workload)).toEqual(['frontend', 'frontend']);
    expect(rate('200')).toBeCloseTo(OK_CALLS / sampled, 1);
    expect(rate('503')).toBeCloseTo(FAILED_CALLS / sampled, 1);
    expect(rate('200') / rate('503')).toBeCloseTo(OK_CALLS / FAILED_CALLS, 1);

    // Service dashboard, "Incoming Success Rate (non-5xx responses)".
    const success = await scalar(
      prom,
      `sum(rate(istio_requests_total{reporter="destination",${svc},response_code!~"5.*"}[${window}])) / sum(rate(istio_requests_total{reporter="destination",${svc}}[${window}]))`,
      at,
    );
    expect(success).toBeCloseTo(OK_CALLS / (OK_CALLS + FAILED_CALLS), 2);

    // Workload dashboard (frontend), "Outgoing Requests By Destination And Response Code": the source side agrees.
    const front = await windowOf(frontendSeries);
    const outgoing = await query(
      prom,
      `round(sum(rate(istio_requests_total{reporter="source",source_workload="frontend",source_workload_namespace="default"}[${front.window}])) by (destination_service, response_code), 0.001)`,
      front.at,
    );
    expect(outgoing.map((r) => r.metric.destination_service)).toEqual([
      'backend.default.svc.cluster.local',
      'backend.default.svc.cluster.local',
    ]);
    const outRate = (code: string) => Number(outgoing.find((r) => r.metric.response_code === code)?.value?.[1]);
    expect(outRate('200')).toBeCloseTo(OK_CALLS / front.sampled, 1);
    expect(outRate('503')).toBeCloseTo(FAILED_CALLS / front.sampled, 1);

    // Service dashboard, "Incoming Request Duration By Source": p50, p90, p99. FAILED_CALLS answers
    // land at or below 25 ms (well under 100), OK_CALLS in (100, 250]: histogram_quantile interpolates
    // inside that bucket at rank q·total.
    const quantile = (q: number) =>
      scalar(
        prom,
        `histogram_quantile(${q}, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",${svc}}[${window}])) by (le))`,
        at,
      );
    const n = OK_CALLS + FAILED_CALLS;
    const inSlowBucket = (q: number) => 100 + (150 * (q * n - FAILED_CALLS)) / OK_CALLS;
    const [p50, p90, p99] = [await quantile(0.5), await quantile(0.9), await quantile(0.99)];
    expect(p50).toBeCloseTo(inSlowBucket(0.5), 0);
    expect(p90).toBeCloseTo(inSlowBucket(0.9), 0);
    expect(p99).toBeCloseTo(inSlowBucket(0.99), 0);
    console.info(
      `prometheus: window ${window}; rate 200 ${rate('200')}/s, 503 ${rate('503')}/s; success ${success}; p50 ${p50} p90 ${p90} p99 ${p99} ms`,
    );
  });
});
