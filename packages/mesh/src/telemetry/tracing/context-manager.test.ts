import { EventEmitter } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import { type Context, createContextKey, propagation, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { isTracingSuppressed, suppressTracing } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { LazyContextManager } from './context-manager.js';

const withSpan = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.NONE,
});
const KEY = createContextKey('test');

describe('LazyContextManager', () => {
  it('carries a context with a span across awaits, and restores the outer one after', async () => {
    const manager = new LazyContextManager();
    const seen = await manager.with(withSpan, async () => {
      await tick();
      return manager.active();
    });
    expect(seen).toBe(withSpan);
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('carries a context with baggage, or with another key, across awaits', async () => {
    const manager = new LazyContextManager();
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ user: { value: 'a' } }));
    const withKey = ROOT_CONTEXT.setValue(KEY, 1);
    for (const ctx of [withBaggage, withKey]) {
      const seen = await manager.with(ctx, async () => {
        await tick();
        return manager.active();
      });
      expect(seen).toBe(ctx);
    }
  });

  it('holds a context that only suppresses tracing for the synchronous call while nothing was carried', async () => {
    const manager = new LazyContextManager();
    const suppressed = suppressTracing(ROOT_CONTEXT);
    const after = manager.with(suppressed, async () => {
      expect(manager.active()).toBe(suppressed);
      await tick();
      return manager.active();
    });
    expect(manager.active()).toBe(ROOT_CONTEXT);
    expect(await after).toBe(ROOT_CONTEXT);
  });

  it('enters the root context without the storage while nothing was carried', async () => {
    const manager = new LazyContextManager();
    const suppressed = suppressTracing(ROOT_CONTEXT);
    const seen = await manager.with(ROOT_CONTEXT, async () => {
      await tick();
      // Still nothing carried: a suppression entered now is held for the synchronous call only.
      return manager.with(suppressed, async () => {
        await tick();
        return manager.active();
      });
    });
    expect(seen).toBe(ROOT_CONTEXT);
  });

  it('carries suppression across awaits once a context has been carried', async () => {
    const manager = new LazyContextManager();
    manager.with(withSpan, () => {});
    const suppressed = suppressTracing(ROOT_CONTEXT);
    const seen = await manager.with(suppressed, async () => {
      await tick();
      return manager.active();
    });
    expect(isTracingSuppressed(seen)).toBe(true);
  });

  it('nests: a carried context entered inside a synchronous one is carried, and the synchronous one comes back', async () => {
    const manager = new LazyContextManager();
    const suppressed = suppressTracing(ROOT_CONTEXT);
    let inner: Promise<Context> | undefined;
    manager.with(suppressed, () => {
      inner = manager.with(withSpan, async () => {
        await tick();
        return manager.active();
      });
      expect(manager.active()).toBe(suppressed);
    });
    expect(await inner).toBe(withSpan);
  });

  it('passes this and the arguments to the function', () => {
    const manager = new LazyContextManager();
    const self = { n: 2 };
    const result = manager.with(
      withSpan,
      function (this: typeof self, a: number) {
        return this.n * a;
      },
      self,
      3,
    );
    expect(result).toBe(6);
  });

  it('binds a function to a context', async () => {
    const manager = new LazyContextManager();
    const bound = manager.bind(withSpan, (a: number, _b: number) => [manager.active(), a] as const);
    expect(bound.length).toBe(2);
    expect(bound(1, 2)).toEqual([withSpan, 1]);
  });

  it('binds the listeners of an event emitter, and removes them by the listener given', () => {
    const manager = new LazyContextManager();
    const emitter = manager.bind(withSpan, new EventEmitter());
    const seen: Context[] = [];
    const listener = () => seen.push(manager.active());
    emitter.on('a', listener);
    emitter.once('b', listener);
    emitter.emit('a');
    emitter.emit('b');
    emitter.emit('b');
    expect(seen).toEqual([withSpan, withSpan]);
    emitter.off('a', listener);
    expect(emitter.listenerCount('a')).toBe(0);
    emitter.once('c', listener);
    emitter.removeListener('c', listener);
    expect(emitter.listenerCount('c')).toBe(0);
    emitter.on('d', listener);
    emitter.removeAllListeners();
    expect(emitter.listenerCount('d')).toBe(0);
  });
});
