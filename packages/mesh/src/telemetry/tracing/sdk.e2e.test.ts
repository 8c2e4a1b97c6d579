import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, type ProxyTracerProvider, ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, type Mesh } from '../../index.js';
import { startTracing, type TracingHandle } from './setup.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

/**
 * B, an Express app behind a mesh with sdk-node started by startTracing (new traces never sampled),
 * calls C (a bare server that records what it saw) from inside a span of its own, after an await.
 */
describe('tracing under startTracing (sdk-node, its context manager)', () => {
  const spans: ReadableSpan[] = [];
  const seenByC: IncomingHttpHeaders[] = [];
  let handle: TracingHandle;
  let b: Mesh;
  let c: Server;
  let url: string;

  beforeAll(async () => {
    const exporter = {
      export(batch: ReadableSpan[], done: (result: { code: number }) => void) {
        spans.push(...batch);
        done({ code: 0 });
      },
      shutdown: async () => {},
    };
    handle = await startTracing({ service: 'b', samplingRatio: 0, exporter });
    c = createServer((req, res) => {
      seenByC.push({ ...req.headers });
      res.end('{}');
    });
    await new Promise<void>((resolve) => c.listen(0, '127.0.0.1', resolve));
    const cPort = (c.address() as AddressInfo).port;
    b = await createMesh({ service: 'b', logger: false, discovery: { static: { c: [`127.0.0.1:${cPort}`] } } });
    const app = express();
    app.use(b.express());
    app.get('/b', (_req, res) => {
      void trace.getTracer('app').startActiveSpan('app-work', async (span) => {
        await new Promise((resolve) => setImmediate(resolve));
        const answer = await b.fetch('http://c/c');
        await answer.arrayBuffer();
        span.end();
        res.status(answer.status).end();
      });
    });
    url = (await b.listen(app)).url;
  });

  afterAll(async () => {
    await b?.close();
    await new Promise((resolve) => c?.close(resolve));
    await handle?.shutdown();
  });

  /** The SDK's provider, behind the API's proxy: its batch processor is flushed before spans are read. */
  const flush = () =>
    (
      (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as unknown as { forceFlush(): Promise<void> }
    ).forceFlush();

  async function call(headers: Record<string, string>): Promise<IncomingHttpHeaders> {
    seenByC.length = 0;
    const res = await fetch(`${url}/b`, { headers });
    expect(res.status).toBe(200);
    await flush();
    expect(seenByC).toHaveLength(1);
    return seenByC[0] as IncomingHttpHeaders;
  }

  it("carries an unsampled caller's decision to the next hop and records nothing", async () => {
    spans.length = 0;
    const seen = await call({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-00`, 'x-request-id': 'req-1' });
    expect(seen.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(seen.traceparent).not.toContain(CALLER_SPAN);
    // The default formats: W3C only, for a trace that came in as W3C.
    expect(seen.b3).toBeUndefined();
    expect(seen['x-b3-traceid']).toBeUndefined();
    expect(seen['x-request-id']).toBe('req-1');
    expect(spans).toEqual([]);
  });

  it("continues an unsampled B3 caller's trace in its b3 header too", async () => {
    spans.length = 0;
    const seen = await call({ b3: `${TRACE_ID}-${CALLER_SPAN}-0` });
    expect(seen.b3).toMatch(new RegExp(`^${TRACE_ID}-[0-9a-f]{16}-0$`));
    expect(seen.b3).not.toContain(CALLER_SPAN);
    expect(seen.traceparent).toBe(`00-${seen.b3?.slice(0, 49)}-00`);
    expect(seen['x-b3-traceid']).toBeUndefined();
    expect(spans).toEqual([]);
  });

  it("records a sampled caller's trace across the hop, the application's span under the server's", async () => {
    spans.length = 0;
    const seen = await call({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` });
    const one = (kind: SpanKind, name?: string) =>
      spans.find((s) => s.kind === kind && (name === undefined || s.name === name));
    const server = one(SpanKind.SERVER);
    const appSpan = one(SpanKind.INTERNAL, 'app-work');
    const callSpan = one(SpanKind.INTERNAL, 'GET c');
    const attempt = one(SpanKind.CLIENT);
    expect(server?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(appSpan?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    expect(callSpan?.parentSpanContext?.spanId).toBe(appSpan?.spanContext().spanId);
    expect(attempt?.parentSpanContext?.spanId).toBe(callSpan?.spanContext().spanId);
    expect(seen.traceparent).toBe(`00-${TRACE_ID}-${attempt?.spanContext().spanId}-01`);
  });

  it('starts an unsampled trace at the edge and still writes it on the call out', async () => {
    spans.length = 0;
    const seen = await call({});
    expect(seen.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(seen.traceparent).not.toContain('00000000000000000000000000000000');
    expect(seen['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(spans).toEqual([]);
  });

  it("sends a mirror copy the call's trace: an unsampled new trace as the call carries it, a sampled one under a span of its own", async () => {
    const seenByD: IncomingHttpHeaders[] = [];
    const d = createServer((req, res) => {
      seenByD.push({ ...req.headers });
      res.end('{}');
    });
    await new Promise<void>((resolve) => d.listen(0, '127.0.0.1', resolve));
    const m = await createMesh({
      service: 'b',
      logger: false,
      discovery: {
        static: {
          c: [`127.0.0.1:${(c.address() as AddressInfo).port}`],
          d: [`127.0.0.1:${(d.address() as AddressInfo).port}`],
        },
      },
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'c' },
          spec: {
            hosts: ['c'],
            http: [
              { route: [{ destination: { host: 'c' } }], mirror: { host: 'd' }, mirrorPercentage: { value: 100 } },
            ],
          },
        },
      ],
    });
    try {
      seenByC.length = 0;
      await (await m.fetch('http://c/c')).arrayBuffer();
      await expect.poll(() => seenByD.length).toBe(1);
      expect(seenByD[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(seenByD[0]?.traceparent).toBe(seenByC[0]?.traceparent);
      expect(seenByD[0]?.['x-request-id']).toBe(seenByC[0]?.['x-request-id']);

      spans.length = 0;
      const sampled = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: TRACE_ID,
        spanId: CALLER_SPAN,
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      });
      await context.with(sampled, async () => (await m.fetch('http://c/c')).arrayBuffer());
      await expect.poll(() => seenByD.length).toBe(2);
      const copyParent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seenByD[1]?.traceparent));
      expect(copyParent?.[1]).toBe(TRACE_ID);
      await expect
        .poll(async () => {
          await flush();
          return spans.filter((s) => s.kind === SpanKind.CLIENT).length;
        })
        .toBe(2);
      const callSpan = spans.find((s) => s.kind === SpanKind.INTERNAL);
      const copySpan = spans.find((s) => s.spanContext().spanId === copyParent?.[2]);
      expect(copySpan?.kind).toBe(SpanKind.CLIENT);
      expect(copySpan?.parentSpanContext?.spanId).toBe(callSpan?.spanContext().spanId);
      expect(callSpan?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    } finally {
      await m.close();
      await new Promise((resolve) => d.close(resolve));
    }
  });
});
