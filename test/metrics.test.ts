// Istio's standard metrics and weft's own, as mesh.metrics() renders them: names, labels, buckets, principals, and no paths.
import { createRequire } from 'node:module';
import { ISTIO_BUCKETS, ISTIO_LABELS, METRICS_CONTENT_TYPE, type Mesh } from '@weft/mesh';
import { CertificateAuthority } from '@weft/security';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';

/** prom-client as @weft/mesh resolves it, for its global registry. */
const { register } = createRequire(new URL('../packages/mesh/package.json', import.meta.url))('prom-client') as {
  register: { metrics(): Promise<string> };
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text → samples (enough of the format for what prom-client writes). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const found = find(samples, name, labels);
  return found.length === 0 ? undefined : found.reduce((a, s) => a + s.value, 0);
}

/** A backend answering 200 with a JSON body, or 503 on /fail; behind `m`. */
async function backend(m: Mesh) {
  const app = express();
  app.use(m.express());
  app.all('/fail/:id', (_req, res) => {
    res.status(503).json({ down: true });
  });
  app.all(/.*/, (_req, res) => {
    res.json({ ok: true });
  });
  return m.listen(app);
}

describe('Istio standard metrics', () => {
  it('reports each call on both sides with Istio’s names, labels and buckets, and never a path', async () => {
    const back = await mesh({ service: 'backend', version: 'v2', logger: false });
    const server = await backend(back);
    const front = await mesh({
      service: 'frontend',
      version: 'v1',
      discovery: { static: { backend: [{ address: server.address, labels: { app: 'backend', version: 'v2' } }] } },
      logger: false,
    });
    const noRetry = { weft: { retries: { attempts: 0 } } };
    for (let i = 0; i < 3; i++) {
      const res = await front.fetch(`http://backend/items/${i}?secret=user-input-${i}`, {
        method: 'POST',
        body: 'hello world',
        ...noRetry,
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    for (let i = 0; i < 2; i++) {
      const res = await front.fetch(`http://backend/fail/${i}`, noRetry);
      expect(res.status).toBe(503);
      await res.text();
    }

    const source = await front.metrics();
    const destination = await back.metrics();
    for (const text of [source, destination]) {
      expect(text).not.toContain('/items');
      expect(text).not.toContain('secret');
      expect(text).not.toContain('user-input');
      expect(text).toContain('# TYPE istio_requests_total counter');
      expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
      expect(text).toContain('# TYPE istio_request_bytes histogram');
      expect(text).toContain('# TYPE istio_response_bytes histogram');
    }
    expect(METRICS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');

    const s = parse(source);
    const ok = find(s, 'istio_requests_total', { reporter: 'source', response_code: '200' });
    expect(ok).toHaveLength(1);
    expect(Object.keys(ok[0]?.labels ?? {})).toEqual([...ISTIO_LABELS]);
    expect(ok[0]).toMatchObject({
      value: 3,
      labels: {
        source_workload: 'frontend',
        source_workload_namespace: 'default',
        source_app: 'frontend',
        source_version: 'v1',
        source_canonical_service: 'frontend',
        source_canonical_revision: 'v1',
        source_principal: 'unknown',
        destination_service: 'backend.default.svc.cluster.local',
        destination_service_name: 'backend',
        destination_service_namespace: 'default',
        destination_workload: 'backend',
        destination_workload_namespace: 'default',
        destination_app: 'backend',
        destination_version: 'v2',
        destination_principal: 'unknown',
        request_protocol: 'http',
        response_flags: '-',
        connection_security_policy: 'unknown',
      },
    });
    expect(value(s, 'istio_requests_total', { reporter: 'source', response_code: '503' })).toBe(2);
    // The histograms: Istio's (Envoy's default) bounds, cumulative, with _count equal to the requests.
    const buckets = find(s, 'istio_request_duration_milliseconds_bucket', { response_code: '200' });
    expect(buckets.map((b) => b.labels.le)).toEqual([...ISTIO_BUCKETS.map(String), '+Inf']);
    expect(buckets.at(-1)?.value).toBe(3);
    expect(value(s, 'istio_request_duration_milliseconds_count', { response_code: '200' })).toBe(3);
    expect(value(s, 'istio_request_bytes_sum', { response_code: '200' })).toBe(3 * 'hello world'.length);
    expect(value(s, 'istio_response_bytes_sum', { response_code: '200' })).toBe(3 * '{"ok":true}'.length);

    const d = parse(destination);
    expect(find(d, 'istio_requests_total', { reporter: 'destination', response_code: '200' })[0]).toMatchObject({
      value: 3,
      labels: {
        source_workload: 'unknown',
        source_principal: 'unknown',
        destination_workload: 'backend',
        destination_app: 'backend',
        destination_version: 'v2',
        destination_service: 'backend.default.svc.cluster.local',
        connection_security_policy: 'none',
        response_flags: '-',
      },
    });
    expect(value(d, 'istio_requests_total', { reporter: 'destination', response_code: '503' })).toBe(2);
    expect(value(d, 'istio_request_bytes_sum', { response_code: '200' })).toBe(3 * 'hello world'.length);
    expect(value(d, 'istio_response_bytes_sum', { response_code: '503' })).toBe(2 * '{"down":true}'.length);
    // Meshes keep their own registries: nothing lands in prom-client's global one.
    expect(await register.metrics()).not.toContain('istio_');
    expect(source).not.toContain('reporter="destination"');
  });

  it('records no Istio series on either side with metrics: false, and still answers the calls', async () => {
    const back = await mesh({ service: 'backend', logger: false, metrics: false });
    const server = await backend(back);
    const front = await mesh({
      service: 'frontend',
      discovery: { static: { backend: [server.address] } },
      logger: false,
      metrics: false,
    });
    const res = await front.fetch('http://backend/items/1');
    expect(res.status).toBe(200);
    await res.text();
    for (const text of [await front.metrics(), await back.metrics()]) {
      expect(find(parse(text), 'istio_requests_total', {})).toEqual([]);
      expect(find(parse(text), 'istio_request_duration_milliseconds_count', {})).toEqual([]);
    }
    // The calls are still counted where weft needs them (mesh.stats(), hedging's latency quantiles).
    expect(front.stats().outbound[0]?.requests).toBe(1);
  });

  it('names both principals and mutual_tls with mTLS on', async () => {
    const ca = await CertificateAuthority.create();
    const back = await mesh({ service: 'backend', security: { identity: { ca } }, logger: false });
    const server = await backend(back);
    const front = await mesh({
      service: 'frontend',
      security: { identity: { ca } },
      discovery: { static: { backend: [server.address] } },
      logger: false,
    });
    const res = await front.fetch('http://backend/x');
    expect(res.status).toBe(200);
    await res.text();

    const s = parse(await front.metrics());
    expect(find(s, 'istio_requests_total', { reporter: 'source' })[0]?.labels).toMatchObject({
      source_principal: 'spiffe://cluster.local/ns/default/sa/frontend',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/backend',
      connection_security_policy: 'unknown',
    });
    const d = parse(await back.metrics());
    expect(find(d, 'istio_requests_total', { reporter: 'destination' })[0]?.labels).toMatchObject({
      source_principal: 'spiffe://cluster.local/ns/default/sa/frontend',
      source_workload: 'frontend',
      source_workload_namespace: 'default',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/backend',
      connection_security_policy: 'mutual_tls',
    });
    const expiry = value(d, 'weft_workload_certificate_expiry_timestamp_seconds', {});
    expect(expiry).toBe((back.identity()?.notAfter.getTime() ?? 0) / 1000);
  });

  it('tells a spent retry budget from spent attempts', async () => {
    const back = await mesh({ service: 'backend', logger: false });
    const server = await backend(back);
    const front = await mesh({
      service: 'frontend',
      discovery: { static: { backend: [server.address] } },
      // Istio's retryBudget with no concurrency floor: a retry past the budget is refused.
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'backend' },
          spec: { host: 'backend', trafficPolicy: { retryBudget: { percent: 0, minRetryConcurrency: 0 } } },
        },
      ],
      logger: false,
    });
    const res = await front.fetch('http://backend/fail/1', { weft: { retries: { attempts: 2, retryOn: '503' } } });
    expect(res.status).toBe(503);
    await res.text();
    const s = parse(await front.metrics());
    const backendService = { destination_service: 'backend.default.svc.cluster.local' };
    expect(find(s, 'istio_requests_total', { response_code: '503' })[0]?.labels.response_flags).toBe('URX');
    expect(value(s, 'weft_retries_exhausted_total', { ...backendService, cause: 'budget' })).toBe(1);
    expect(value(s, 'weft_retries_exhausted_total', { ...backendService, cause: 'attempts' })).toBe(0);
    // Fewer retries than the policy's two, and each one reached the backend.
    const sent = value(parse(await back.metrics()), 'istio_requests_total', { response_code: '503' }) ?? 0;
    expect(value(s, 'weft_retries_total', backendService)).toBe(sent - 1);
    expect(sent - 1).toBeLessThan(2);
  });

  it('labels calls the mesh refuses with their response flags and counts weft’s own events', async () => {
    const back = await mesh({ service: 'backend', logger: false });
    const server = await backend(back);
    const front = await mesh({
      service: 'frontend',
      discovery: { static: { backend: [server.address], nowhere: ['127.0.0.1:1'] } },
      logger: false,
    });
    // 503 retried twice, then answered as it is: URX.
    const res = await front.fetch('http://backend/fail/1', { weft: { retries: { attempts: 2, retryOn: '503' } } });
    expect(res.status).toBe(503);
    await res.text();
    // Nothing listens: a connection failure, retried, then UF/URX-flagged.
    await front.fetch('http://nowhere/x').catch(() => undefined);
    await expect(front.policy.update([{ kind: 'Nonsense' }])).rejects.toThrow();

    const s = parse(await front.metrics());
    const failed = find(s, 'istio_requests_total', {
      destination_service_name: 'backend',
      response_code: '503',
    });
    expect(failed).toHaveLength(1);
    expect(failed[0]?.labels.response_flags).toBe('URX');
    expect(value(s, 'weft_retries_total', { destination_service: 'backend.default.svc.cluster.local' })).toBe(2);
    const backendService = { destination_service: 'backend.default.svc.cluster.local' };
    expect(value(s, 'weft_retries_exhausted_total', { ...backendService, cause: 'attempts' })).toBe(1);
    expect(value(s, 'weft_retries_exhausted_total', { ...backendService, cause: 'budget' })).toBe(0);
    const nowhere = find(s, 'istio_requests_total', { destination_service_name: 'nowhere' });
    expect(nowhere[0]?.labels.response_flags).toMatch(/UF/);
    expect(value(s, 'weft_policy_updates_rejected_total', {})).toBe(1);
    expect(value(s, 'weft_policy_snapshot_version', {})).toBe(front.policy.current().version);
    expect(
      find(s, 'weft_upstream_connections', { destination_service: 'backend.default.svc.cluster.local' }),
    ).toHaveLength(1);
    // The destination saw three calls: the first and its two retries.
    expect(value(parse(await back.metrics()), 'istio_requests_total', { response_code: '503' })).toBe(3);
  });
});
