// Hedging: a backup attempt to another endpoint when the first is slow; the first answer wins.
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

const hedged = (delay: string) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews', annotations: { 'weft.io/hedge-delay': delay } },
  spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
});

async function slowAndFast() {
  const aborted: string[] = [];
  const slow = await upstream('slow', (req, res) => {
    req.socket.once('close', () => aborted.push(req.url ?? ''));
    setTimeout(() => res.end('slow'), 1_000).unref();
  });
  const fast = await upstream('fast', (_req, res) => {
    res.end('fast');
  });
  return { slow, fast, aborted };
}

describe('hedging', () => {
  it('answers from the backup when the first endpoint is slow, and aborts the first', async () => {
    const { slow, fast, aborted } = await slowAndFast();
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address, fast.address] } },
      policy: hedged('50ms'),
    });
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const res = await m.fetch(`http://reviews/${i}`);
      expect(await res.text()).toBe('fast');
      expect(Date.now() - started).toBeLessThan(500);
    }
    // Every other call went to the slow endpoint first: its attempts were cut, not left running.
    await expect.poll(() => aborted.length).toBe(slow.seen.length);
    expect(slow.seen.length).toBeGreaterThan(0);
    expect(fast.seen).toHaveLength(4);
  });

  it("gives both attempts of a hedged call the call's trace: a span each and their own traceparent", async () => {
    const traceparents: (string | undefined)[] = [];
    const slow = await upstream('slow', (req, res) => {
      traceparents.push(req.headers.traceparent as string | undefined);
      setTimeout(() => res.end('slow'), 1_000).unref();
    });
    const fast = await upstream('fast', (req, res) => {
      traceparents.push(req.headers.traceparent as string | undefined);
      res.end('fast');
    });
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address, fast.address] } },
      policy: hedged('50ms'),
      tracing: { tracerProvider },
    });
    // A call whose first attempt goes to the slow endpoint is hedged (round robin: one of any two calls).
    for (let i = 0; i < 2; i++) {
      traceparents.length = 0;
      const res = await m.fetch(`http://reviews/${i}`);
      expect(await res.text()).toBe('fast');
      if (traceparents.length === 2) break;
    }
    expect(traceparents).toHaveLength(2);
    const [first, backup] = traceparents.map((t) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(t ?? ''));
    expect(first?.[1]).toBeDefined();
    expect(backup?.[1]).toBe(first?.[1]);
    expect(backup?.[2]).not.toBe(first?.[2]);
    const attempts = exporter
      .getFinishedSpans()
      .filter((s) => s.name === 'GET' && s.spanContext().traceId === first?.[1]);
    expect(attempts.map((s) => s.spanContext().spanId).sort()).toEqual([first?.[2], backup?.[2]].sort());
  });

  it('never hedges a POST, and a call can turn hedging off', async () => {
    const { slow, fast } = await slowAndFast();
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address, fast.address] } },
      policy: hedged('50ms'),
    });
    const started = Date.now();
    const post = await m.fetch('http://reviews/p', { method: 'POST', body: 'x' });
    expect(await post.text()).toBe('slow');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const off = await m.fetch('http://reviews/g', { weft: { hedge: false } });
    expect(await off.text()).toBe('fast');
    const offSlow = await m.fetch('http://reviews/g2', { weft: { hedge: false } });
    expect(await offSlow.text()).toBe('slow');
    expect(fast.seen.map((s) => s.url)).toEqual(['/g']);
  }, 10_000);

  it('spends the retry budget: with none left, the slow attempt is waited for', async () => {
    const { slow, fast } = await slowAndFast();
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address, fast.address] } },
      policy: hedged('20ms'),
      retryBudget: { percentCanRetry: 0, minRetriesPerSecond: 0.1, ttlMs: 10_000 },
    });
    // The budget holds one retry (0.1/s over 10 s). The first call starts on the slow endpoint and hedges with it.
    expect(await (await m.fetch('http://reviews/1')).text()).toBe('fast');
    // The backup took the fast endpoint's turn: the next call starts on the slow one again, and may not hedge.
    const started = Date.now();
    expect(await (await m.fetch('http://reviews/2')).text()).toBe('slow');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 10_000);
});
