// The OpenTelemetry context manager startTracing registers: AsyncLocalStorage, entered only once a context must be carried.
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { type Context, type ContextManager, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';

// biome-ignore lint/suspicious/noExplicitAny: a listener is any function, as EventEmitter types it.
type Listener = (...args: any[]) => void;
type AddListener = (event: string | symbol, listener: Listener) => EventEmitter;
type RemoveListener = (event: string | symbol, listener: Listener) => EventEmitter;
type RemoveAllListeners = (event?: string | symbol) => EventEmitter;
/** Per bound emitter: each event's listeners and the wrappers that were added in their place. */
type Wrappers = Record<string | symbol, WeakMap<Listener, Listener>>;

const ADD_LISTENER_METHODS = ['addListener', 'on', 'once', 'prependListener', 'prependOnceListener'] as const;

/**
 * Whether a context may be held for the synchronous call only while nothing has been carried:
 * the root context (which every later callback sees anyway), or one that carries nothing but
 * "do not trace" (no span, no baggage), in which the SDK's span processors export so that
 * instrumented I/O of the exporter is not traced.
 */
function heldSynchronously(ctx: Context): boolean {
  if (ctx === ROOT_CONTEXT) return true;
  return isTracingSuppressed(ctx) && trace.getSpan(ctx) === undefined && propagation.getBaggage(ctx) === undefined;
}

/**
 * AsyncLocalStorage as OpenTelemetry's context manager, as the SDK's own
 * (`AsyncLocalStorageContextManager`), with one difference: on Node 20, once any AsyncLocalStorage
 * has been entered, every promise of the process pays an async hook (measured: 5-9 µs a call on
 * the client, more than all of tracing). Until another context is entered, the root context and a
 * context that suppresses tracing with no span or baggage in it (the span processor's export) are
 * active for the synchronous call only, so a process that only makes calls (no inbound call
 * entering its span, no `startActiveSpan`) never enters the storage. From the first context that
 * must be carried, every context is carried across awaits, suppression included.
 *
 * What this gives up: an instrumentation the application registers itself (weft's SDK starts none)
 * would not see the export's suppression after its first await, until some context is entered.
 */
export class LazyContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  /** The context of the synchronous call under way, entered without the storage. */
  #current: Context | undefined = undefined;
  /** Whether a context has been entered in the storage: from then on every context goes there. */
  #carrying = false;
  readonly #wrappers = Symbol('weft.contextWrappers');
  #addingListener = false;

  active(): Context {
    return this.#current ?? this.#storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const cb = thisArg == null ? fn : (fn.bind(thisArg) as F);
    const outer = this.#current;
    if (!this.#carrying && heldSynchronously(ctx)) {
      this.#current = ctx;
      try {
        return cb(...args);
      } finally {
        this.#current = outer;
      }
    }
    this.#carrying = true;
    this.#current = undefined;
    try {
      return this.#storage.run(ctx, cb, ...args);
    } finally {
      this.#current = outer;
    }
  }

  bind<T>(ctx: Context, target: T): T {
    if (target instanceof EventEmitter) return this.#bindEmitter(ctx, target) as T;
    if (typeof target === 'function') return this.#bindFunction(ctx, target as unknown as Listener) as T;
    return target;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#storage.disable();
    this.#current = undefined;
    this.#carrying = false;
    return this;
  }

  #bindFunction(ctx: Context, target: Listener): Listener {
    const manager = this;
    const bound = function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => target.apply(this, args));
    };
    Object.defineProperty(bound, 'length', {
      enumerable: false,
      configurable: true,
      writable: false,
      value: target.length,
    });
    return bound;
  }

  /**
   * Binds the listeners added to `emitter` from now on to `ctx`, as the SDK's manager does: the
   * methods that add listeners add a bound wrapper, those that remove them find the wrapper.
   */
  #bindEmitter(ctx: Context, emitter: EventEmitter): EventEmitter {
    const holder = emitter as unknown as Record<symbol, Wrappers | undefined>;
    if (holder[this.#wrappers] !== undefined) return emitter;
    holder[this.#wrappers] = Object.create(null) as Wrappers;
    const manager = this;
    const methods = emitter as unknown as Record<string, unknown>;
    for (const name of ADD_LISTENER_METHODS) {
      const original = methods[name] as AddListener | undefined;
      if (original === undefined) continue;
      methods[name] = function (this: EventEmitter, event: string | symbol, listener: Listener) {
        // `once` adds its own wrapper through `on`: that one is left alone, or removing it would fail.
        if (manager.#addingListener) return original.call(this, event, listener);
        let wrappers = holder[manager.#wrappers];
        if (wrappers === undefined) {
          wrappers = Object.create(null) as Wrappers;
          holder[manager.#wrappers] = wrappers;
        }
        let forEvent = wrappers[event];
        if (forEvent === undefined) {
          forEvent = new WeakMap();
          wrappers[event] = forEvent;
        }
        const bound = manager.#bindFunction(ctx, listener);
        forEvent.set(listener, bound);
        manager.#addingListener = true;
        try {
          return original.call(this, event, bound);
        } finally {
          manager.#addingListener = false;
        }
      };
    }
    for (const name of ['removeListener', 'off'] as const) {
      const original = methods[name] as RemoveListener | undefined;
      if (typeof original !== 'function') continue;
      methods[name] = function (this: EventEmitter, event: string | symbol, listener: Listener) {
        const bound = holder[manager.#wrappers]?.[event]?.get(listener);
        return original.call(this, event, bound ?? listener);
      };
    }
    const removeAll = methods.removeAllListeners as RemoveAllListeners | undefined;
    if (typeof removeAll === 'function') {
      methods.removeAllListeners = function (this: EventEmitter, ...args: [event?: string | symbol]) {
        const wrappers = holder[manager.#wrappers];
        if (wrappers !== undefined) {
          if (args.length === 0) holder[manager.#wrappers] = Object.create(null) as Wrappers;
          else if (args[0] !== undefined) delete wrappers[args[0]];
        }
        return removeAll.apply(this, args);
      };
    }
    return emitter;
  }
}
