import { context, type SpanContext, TraceFlags, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { hasGlobalTracerProvider, startTracing } from './setup.js';

/** An exporter that keeps what it is given (the in-memory one forgets everything on shutdown). */
function keeping() {
  const spans: ReadableSpan[] = [];
  return {
    spans,
    exporter: {
      export(batch: ReadableSpan[], done: (result: { code: number }) => void) {
        spans.push(...batch);
        done({ code: 0 });
      },
      shutdown: async () => {},
    },
  };
}

describe('startTracing', () => {
  it('refuses a sampling ratio outside 0…1', async () => {
    await expect(startTracing({ service: 'reviews', samplingRatio: 2 })).rejects.toThrow(RangeError);
  });

  it('starts sdk-node with parent-based sampling, then leaves a registered provider alone', async () => {
    expect(hasGlobalTracerProvider()).toBe(false);
    const { spans, exporter } = keeping();
    const handle = await startTracing({ service: 'reviews', version: 'v2', samplingRatio: 0, exporter });
    expect(handle.started).toBe(true);
    expect(hasGlobalTracerProvider()).toBe(true);

    const tracer = trace.getTracer('test');
    // A new trace at ratio 0 is not recorded; a call whose caller sampled its trace is.
    expect(tracer.startSpan('root').isRecording()).toBe(false);
    const sampledParent: SpanContext = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    };
    const child = tracer.startSpan('child', {}, trace.setSpanContext(context.active(), sampledParent));
    expect(child.isRecording()).toBe(true);
    child.end();

    // The context manager carries an active span across awaits (weft's LazyContextManager).
    const active = await tracer.startActiveSpan('active', async (span) => {
      await new Promise((resolve) => setImmediate(resolve));
      span.end();
      return trace.getActiveSpan() === span;
    });
    expect(active).toBe(true);

    // The application (or another mesh) calling it again: nothing more is started.
    const again = await startTracing({ service: 'other' });
    expect(again.started).toBe(false);

    await handle.shutdown();
    expect(spans.map((s) => s.name)).toEqual(['child']);
    expect(spans[0]?.resource.attributes).toMatchObject({
      'service.name': 'reviews',
      'service.namespace': 'default',
      'service.version': 'v2',
    });
  });
});
