// Tracing across hops: one trace through three services, a span per retry attempt, and the headers each format puts on the wire.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Mesh, MeshOptions } from '@weft/mesh';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

type Propagators = NonNullable<Exclude<MeshOptions['tracing'], boolean | undefined>['propagators']>;

/** A tracer provider per service, all exporting to one in-memory exporter, as three processes' SDKs would to one collector. */
function providerFor(service: string, exporter: InMemorySpanExporter): BasicTracerProvider {
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
}

/**
 * A → B → C on loopback, each an Express app behind its own mesh. A calls B with axios, B calls C
 * with fetch; neither copies a header. C answers 503 to its first call and records what it saw;
 * B's policy retries 5xx. `tracing` is each mesh's tracing option (`undefined`: the default).
 */
async function chain(tracing: (service: string) => MeshOptions['tracing'], more: Partial<MeshOptions> = {}) {
  const seenByC: IncomingHttpHeaders[] = [];
  const seenByB: IncomingHttpHeaders[] = [];
  const servers: Record<string, { m: Mesh; address: string }> = {};

  const c = await mesh({ service: 'c', tracing: tracing('c'), logger: false, ...more });
  const cApp = express();
  cApp.use(c.express());
  cApp.get('/c', (req, res) => {
    seenByC.push({ ...req.headers });
    if (seenByC.length === 1) res.status(503).end();
    else res.json({ ok: true });
  });
  servers.c = { m: c, address: (await c.listen(cApp)).address };

  const b = await mesh({
    service: 'b',
    tracing: tracing('b'),
    logger: false,
    ...more,
    discovery: { static: { c: [servers.c.address] } },
    policy: [{ service: 'c', retries: { attempts: 2, retryOn: '5xx', backoff: '1ms' } }],
  });
  const bApp = express();
  bApp.use(b.express());
  bApp.get('/b', async (req, res) => {
    seenByB.push({ ...req.headers });
    const answer = await b.fetch('http://c/c');
    res.status(answer.status).json(await answer.json());
  });
  servers.b = { m: b, address: (await b.listen(bApp)).address };

  const a = await mesh({
    service: 'a',
    tracing: tracing('a'),
    logger: false,
    ...more,
    discovery: { static: { b: [servers.b.address] } },
  });
  const aApp = express();
  aApp.use(a.express());
  aApp.get('/a', async (_req, res) => {
    const answer = await a.axios('b').get('/b');
    res.json(answer.data);
  });
  const front = await a.listen(aApp);
  return { url: front.url, seenByB, seenByC };
}

const byKind = (spans: ReadableSpan[], service: string, kind: SpanKind) =>
  spans.filter((s) => s.resource.attributes['service.name'] === service && s.kind === kind);
const idOf = (s: ReadableSpan | undefined) => s?.spanContext().spanId;
const parentOf = (s: ReadableSpan | undefined) => s?.parentSpanContext?.spanId;

describe.each<[string, Propagators]>([
  ['W3C trace context', ['tracecontext', 'baggage']],
  ['B3 single header', ['b3', 'baggage']],
  ['B3 multi header', ['b3multi', 'baggage']],
])('a three-service chain propagating %s', (_name, propagators) => {
  it('makes one trace with parent/child links across the hops and a span per retry attempt', async () => {
    const exporter = new InMemorySpanExporter();
    const { url, seenByB, seenByC } = await chain((service) => ({
      tracerProvider: providerFor(service, exporter),
      propagators,
    }));
    const res = await fetch(`${url}/a`, { headers: { baggage: 'user=alice' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    // 3 SERVER spans (A, B, C twice), 2 call spans (A, B), 3 attempts (A once, B twice).
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(9);
    const spans = exporter.getFinishedSpans();

    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const [traceId] = [...traceIds] as [string];

    const [aServer] = byKind(spans, 'a', SpanKind.SERVER);
    const [aCall] = byKind(spans, 'a', SpanKind.INTERNAL);
    const [aAttempt] = byKind(spans, 'a', SpanKind.CLIENT);
    const [bServer] = byKind(spans, 'b', SpanKind.SERVER);
    const [bCall] = byKind(spans, 'b', SpanKind.INTERNAL);
    const bAttempts = byKind(spans, 'b', SpanKind.CLIENT).sort(
      (x, y) =>
        Number(x.attributes['http.request.resend_count'] ?? 0) - Number(y.attributes['http.request.resend_count'] ?? 0),
    );
    const cServers = byKind(spans, 'c', SpanKind.SERVER).sort(
      (x, y) => Number(x.attributes['http.response.status_code']) - Number(y.attributes['http.response.status_code']),
    );
    expect(bAttempts).toHaveLength(2);
    expect(cServers).toHaveLength(2);

    // A's edge starts the trace; every hop is the child of the attempt that reached it.
    expect(aServer?.parentSpanContext).toBeUndefined();
    expect(parentOf(aCall)).toBe(idOf(aServer));
    expect(parentOf(aAttempt)).toBe(idOf(aCall));
    expect(parentOf(bServer)).toBe(idOf(aAttempt));
    expect(parentOf(bCall)).toBe(idOf(bServer));
    expect(bAttempts.map(parentOf)).toEqual([idOf(bCall), idOf(bCall)]);
    // The 503 went to C's first server span from the first attempt, the 200 to the second from the retry.
    expect(cServers.map((s) => s.attributes['http.response.status_code'])).toEqual([200, 503]);
    expect(parentOf(cServers[1])).toBe(idOf(bAttempts[0]));
    expect(parentOf(cServers[0])).toBe(idOf(bAttempts[1]));

    // What the attempts and the call say, in the HTTP semantic conventions and weft's own names.
    expect(bAttempts[0]?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 503,
      'weft.destination.service': 'c.default.svc.cluster.local',
    });
    expect(bAttempts[0]?.attributes['http.request.resend_count']).toBeUndefined();
    expect(bAttempts[1]?.attributes).toMatchObject({
      'http.request.resend_count': 1,
      'http.response.status_code': 200,
    });
    // The attempt names the endpoint it went to; the call names the logical destination.
    expect(bAttempts[1]?.attributes).toMatchObject({
      'network.peer.address': '127.0.0.1',
      'server.port': expect.any(Number),
    });
    expect(bCall?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': 'c',
      'http.response.status_code': 200,
      'weft.destination.service': 'c.default.svc.cluster.local',
      'http.request.resend_count': 1,
    });
    expect(cServers[0]?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/c',
      'url.scheme': 'http',
    });

    // The headers C's application saw on the retried call: its parent is B's second attempt.
    const parent = idOf(bAttempts[1]);
    const headers = seenByC[1] ?? {};
    if (propagators.includes('tracecontext')) {
      expect(headers.traceparent).toBe(`00-${traceId}-${parent}-01`);
      expect(headers.b3).toBeUndefined();
      expect(headers['x-b3-traceid']).toBeUndefined();
    }
    if (propagators.includes('b3')) {
      expect(headers.b3).toBe(`${traceId}-${parent}-1`);
      expect(headers.traceparent).toBeUndefined();
      expect(headers['x-b3-traceid']).toBeUndefined();
    }
    if (propagators.includes('b3multi')) {
      expect(headers['x-b3-traceid']).toBe(traceId);
      expect(headers['x-b3-spanid']).toBe(parent);
      expect(headers['x-b3-sampled']).toBe('1');
      expect(headers.traceparent).toBeUndefined();
      expect(headers.b3).toBeUndefined();
    }
    // Baggage from the edge continued across both hops.
    expect(headers.baggage).toContain('user=alice');

    // x-request-id: made at A's edge, the same in B and at C on both attempts, and on every span.
    const requestId = aServer?.attributes['guid:x-request-id'];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seenByB.map((h) => h['x-request-id'])).toEqual([requestId]);
    expect(seenByC.map((h) => h['x-request-id'])).toEqual([requestId, requestId]);
    expect(cServers.map((s) => s.attributes['guid:x-request-id'])).toEqual([requestId, requestId]);
  });
});

describe('tracing without an OpenTelemetry SDK', () => {
  it("carries the caller's trace and x-request-id through to C unchanged", async () => {
    const { url, seenByC } = await chain(() => undefined);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await fetch(`${url}/a`, { headers: { traceparent, 'x-request-id': 'abc-123' } });
    expect(res.status).toBe(200);
    // No SDK: no spans of weft's own, so the caller's span context is passed on as it came (as Envoy does).
    expect(seenByC.map((h) => h.traceparent)).toEqual([traceparent, traceparent]);
    expect(seenByC.map((h) => h['x-request-id'])).toEqual(['abc-123', 'abc-123']);
  });

  it("continues a B3 caller's trace in the x-b3-* headers it came in, and in W3C, to every hop", async () => {
    const { url, seenByC } = await chain(() => undefined);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    const res = await fetch(`${url}/a`, {
      headers: { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': '1' },
    });
    expect(res.status).toBe(200);
    for (const h of seenByC) {
      expect(h['x-b3-traceid']).toBe(traceId);
      expect(h['x-b3-spanid']).toBe(spanId);
      expect(h['x-b3-sampled']).toBe('1');
      expect(h.traceparent).toBe(`00-${traceId}-${spanId}-01`);
      expect(h.b3).toBeUndefined();
    }
    expect(seenByC).toHaveLength(2);
  });

  it('writes an explicit list of formats exactly, B3 callers included', async () => {
    const { url, seenByC } = await chain(() => ({ propagators: ['tracecontext', 'baggage'] }));
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    const res = await fetch(`${url}/a`, {
      headers: { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': '1' },
    });
    expect(res.status).toBe(200);
    expect(seenByC.map((h) => h.traceparent)).toEqual([`00-${traceId}-${spanId}-01`, `00-${traceId}-${spanId}-01`]);
    expect(seenByC.map((h) => h['x-b3-traceid'])).toEqual([undefined, undefined]);
  });

  it('still makes an x-request-id at the edge and carries it to every hop', async () => {
    const { url, seenByB, seenByC } = await chain(() => undefined);
    await (await fetch(`${url}/a`)).arrayBuffer();
    const id = seenByB[0]?.['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seenByC.map((h) => h['x-request-id'])).toEqual([id, id]);
    expect(seenByC[0]?.traceparent).toBeUndefined();
  });
  it('gives each call of mesh.request() its own request id when the caller sends one headers object twice, and leaves that object as it was', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = await mesh({ service: 'echo', logger: false });
    const { address } = await server.listen((req: IncomingMessage, res: ServerResponse) => {
      seen.push({ ...req.headers });
      res.end('ok');
    });
    const client = await mesh({ service: 'caller', logger: false, discovery: { static: { echo: [address] } } });
    const headers = { accept: 'text/plain' };
    for (let i = 0; i < 2; i++) {
      const answer = await client.request({
        method: 'GET',
        scheme: 'http',
        authority: 'echo',
        path: '/',
        headers,
        body: null,
      });
      expect(answer.status).toBe(200);
      (answer.body as Readable).resume();
    }
    expect(headers).toEqual({ accept: 'text/plain' });
    const [first, second] = seen.map((h) => h['x-request-id']);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
  });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('tracing: false', () => {
  it('writes no trace header, and still makes x-request-id at the edge and carries it along, as Envoy does', async () => {
    const { url, seenByB, seenByC } = await chain(() => false);
    await (await fetch(`${url}/a`)).arrayBuffer();
    const id = seenByB[0]?.['x-request-id'];
    expect(id).toMatch(UUID);
    // Both attempts to c (the first answered 503 and was retried) carry the edge's id.
    expect(seenByC.map((h) => h['x-request-id'])).toEqual([id, id]);
    for (const headers of [...seenByB, ...seenByC]) {
      expect(headers.traceparent).toBeUndefined();
      expect(headers.b3).toBeUndefined();
      expect(headers['x-b3-traceid']).toBeUndefined();
    }
  });

  it('with requestId: false too, adds no header at all', async () => {
    const { url, seenByB, seenByC } = await chain(() => false, { requestId: false });
    await (await fetch(`${url}/a`)).arrayBuffer();
    expect(seenByC).toHaveLength(2);
    for (const headers of [...seenByB, ...seenByC]) {
      expect(headers['x-request-id']).toBeUndefined();
      expect(headers.traceparent).toBeUndefined();
    }
  });
});

describe('requestId: false', () => {
  it('carries the trace but makes no x-request-id', async () => {
    const exporter = new InMemorySpanExporter();
    const { url, seenByB, seenByC } = await chain((service) => ({ tracerProvider: providerFor(service, exporter) }), {
      requestId: false,
    });
    await (await fetch(`${url}/a`)).arrayBuffer();
    expect(seenByB[0]?.traceparent).toBeDefined();
    expect(seenByC[1]?.traceparent).toBeDefined();
    expect(seenByB[0]?.['x-request-id']).toBeUndefined();
    expect(seenByC[1]?.['x-request-id']).toBeUndefined();
    await expect.poll(() => exporter.getFinishedSpans().length).toBeGreaterThan(0);
    for (const span of exporter.getFinishedSpans()) expect(span.attributes['guid:x-request-id']).toBeUndefined();
  });
});

describe('events on the spans', () => {
  it("records a policy denial on the server's span", async () => {
    const exporter = new InMemorySpanExporter();
    const c = await mesh({
      service: 'c',
      logger: false,
      tracing: { tracerProvider: providerFor('c', exporter) },
      policy: [
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'deny-all' },
          spec: { action: 'DENY', rules: [{}] },
        },
      ],
    });
    const app = express();
    app.use(c.express());
    app.get('/', (_req, res) => {
      res.end('never');
    });
    const server = await c.listen(app);
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(403);
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(1);
    const [span] = exporter.getFinishedSpans();
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.attributes).toMatchObject({ 'http.response.status_code': 403, 'error.type': 'WEFT_ERR_DENIED' });
    expect(span?.events.map((e) => e.name)).toEqual(['weft.policy.denied']);
  });

  it("records an open breaker on the call's span, not on an attempt's", async () => {
    const exporter = new InMemorySpanExporter();
    const down = await express()
      .get('/', (_req, res) => {
        res.status(503).end();
      })
      .listen(0, '127.0.0.1');
    await new Promise((resolve) => down.once('listening', resolve));
    const m = await mesh({
      service: 'a',
      logger: false,
      tracing: { tracerProvider: providerFor('a', exporter) },
      discovery: { static: { c: [`127.0.0.1:${(down.address() as { port: number }).port}`] } },
      breaker: { everyDestination: { minimumCalls: 2 } },
    });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) {
        const outcome = await m
          .fetch('http://c/', { weft: { retries: { attempts: 0 } } })
          .then(async (r) => {
            await r.arrayBuffer();
            return String(r.status);
          })
          .catch((e: { code?: string; cause?: { code?: string } }) => e.code ?? e.cause?.code ?? 'untyped');
        codes.push(outcome);
      }
      expect(codes.at(-1)).toBe('WEFT_ERR_CIRCUIT_OPEN');
      const calls = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.INTERNAL);
      const refused = calls.filter((s) => s.attributes['error.type'] === 'WEFT_ERR_CIRCUIT_OPEN');
      expect(refused.length).toBeGreaterThan(0);
      for (const s of refused) {
        expect(s.events.map((e) => e.name)).toEqual(['weft.breaker.open']);
        expect(s.attributes['weft.response_flags']).toBe('UO');
      }
      const attempts = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(attempts.flatMap((s) => s.events)).toEqual([]);
    } finally {
      await new Promise((resolve) => down.close(resolve));
    }
  });

  it('records an outlier ejection on the span of the attempt whose outcome ejected the endpoint', async () => {
    const exporter = new InMemorySpanExporter();
    const down = await express()
      .get('/', (_req, res) => {
        res.status(503).end();
      })
      .listen(0, '127.0.0.1');
    await new Promise((resolve) => down.once('listening', resolve));
    const address = `127.0.0.1:${(down.address() as { port: number }).port}`;
    const m = await mesh({
      service: 'a',
      logger: false,
      tracing: { tracerProvider: providerFor('a', exporter) },
      discovery: { static: { c: [address] } },
      policy: { service: 'c', outlierDetection: { consecutive5xxErrors: 2, maxEjectionPercent: 100 } },
    });
    try {
      for (let i = 0; i < 3; i++) {
        await m
          .fetch('http://c/', { weft: { retries: { attempts: 0 } } })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
      const attempts = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      const events = attempts.map((s) => s.events.map((e) => [e.name, e.attributes?.['weft.endpoint']]));
      // The second 503 ejects it; the first did not; the third attempt (all endpoints ejected: Envoy's
      // panic routing uses them all) ejects nothing new.
      expect(events).toEqual([[], [['weft.outlier.ejected', address]], []]);
    } finally {
      await new Promise((resolve) => down.close(resolve));
    }
  });
});

describe('mirrored copies', () => {
  /** A VirtualService for `reviews` copying every call to `reviews-next`. */
  const mirrored = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews' },
    spec: {
      hosts: ['reviews'],
      http: [
        {
          route: [{ destination: { host: 'reviews' } }],
          mirror: { host: 'reviews-next' },
          mirrorPercentage: { value: 100 },
        },
      ],
    },
  };

  /** The primary and the shadow upstreams, each keeping the headers it was sent. */
  async function upstreams() {
    const headers: Record<'primary' | 'shadow', IncomingHttpHeaders[]> = { primary: [], shadow: [] };
    const keep = (name: 'primary' | 'shadow') =>
      upstream(name, (req, res) => {
        headers[name].push({ ...req.headers });
        res.end(name);
      });
    return { headers, primary: await keep('primary'), shadow: await keep('shadow') };
  }

  it("carry the call's trace and x-request-id, the copy as a CLIENT span of its own under the call's span", async () => {
    const exporter = new InMemorySpanExporter();
    const { headers, primary, shadow } = await upstreams();
    const m = await mesh({
      service: 'productpage',
      logger: false,
      tracing: { tracerProvider: providerFor('productpage', exporter) },
      discovery: { static: { reviews: [primary.address], 'reviews-next': [shadow.address] } },
      policy: [mirrored],
    });
    expect(await (await m.fetch('http://reviews/r')).text()).toBe('primary');
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(3);
    const [sent] = headers.primary;
    const [copied] = headers.shadow;
    expect(copied?.host).toBe('reviews-shadow');
    expect(copied?.['x-request-id']).toBe(sent?.['x-request-id']);
    const parentOf = (h: IncomingHttpHeaders | undefined) =>
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(h?.traceparent));
    const [, traceId, primarySpan] = parentOf(sent) ?? [];
    const [, copyTraceId, copySpan] = parentOf(copied) ?? [];
    expect(copyTraceId).toBe(traceId);
    expect(copySpan).not.toBe(primarySpan);
    const spans = exporter.getFinishedSpans();
    const call = spans.find((s) => s.kind === SpanKind.INTERNAL);
    const attempts = spans.filter((s) => s.kind === SpanKind.CLIENT);
    expect(attempts.map((s) => s.spanContext().spanId).sort()).toEqual([primarySpan, copySpan].sort());
    for (const attempt of attempts) expect(attempt.parentSpanContext?.spanId).toBe(call?.spanContext().spanId);
    const copyAttempt = attempts.find((s) => s.spanContext().spanId === copySpan);
    expect(copyAttempt?.attributes).toMatchObject({
      'url.full': 'http://reviews-shadow/r',
      'weft.destination.service': 'reviews-next.default.svc.cluster.local',
      'http.response.status_code': 200,
    });
  });

  it('carry an unsampled trace on as it came, with no span of their own, without an SDK', async () => {
    const { headers, primary, shadow } = await upstreams();
    const m = await mesh({
      service: 'productpage',
      logger: false,
      discovery: { static: { reviews: [primary.address], 'reviews-next': [shadow.address] } },
      policy: [mirrored],
    });
    const app = express();
    app.use(m.express());
    app.get('/', async (_req, res) => {
      res.end(await (await m.fetch('http://reviews/r')).text());
    });
    const front = await m.listen(app);
    const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    const answer = await fetch(`${front.url}/`, { headers: { traceparent: incoming, 'x-request-id': 'edge-id' } });
    expect(await answer.text()).toBe('primary');
    await expect.poll(() => headers.shadow.length).toBe(1);
    expect(headers.shadow[0]).toMatchObject({
      traceparent: incoming,
      'x-request-id': 'edge-id',
      host: 'reviews-shadow',
    });
    expect(headers.primary[0]).toMatchObject({ traceparent: incoming, 'x-request-id': 'edge-id' });
  });
});
