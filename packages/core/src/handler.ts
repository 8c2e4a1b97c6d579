// The one core abstraction: a Handler answers a request, a Layer wraps a Handler in another.
import type { CallContext } from './context.js';
import type { WeftRequest, WeftResponse } from './model.js';

/** Request and call context in, response out. Failures reject with a `WeftError`. */
export type Handler<Ctx extends CallContext = CallContext> = (
  request: WeftRequest,
  context: Ctx,
) => Promise<WeftResponse>;

/**
 * A Layer wraps the next handler of a pipeline. `wrap` runs once when the pipeline is
 * built; the handler it returns runs on every call, so per-call work belongs there only.
 */
export interface Layer<Ctx extends CallContext = CallContext> {
  /** What the layer is for (`timeout`, `balance`, …): stable, used to find it in a pipeline. */
  readonly role: string;
  wrap(next: Handler<Ctx>): Handler<Ctx>;
  /** Releases what the layer holds (timers, pools). Called once by the pipeline's owner. */
  close?(): Promise<void>;
}

/**
 * Composes layers around a terminal handler. The first layer sees the request first
 * (tower's order, not undici's `compose`): `[a, b]` over `t` is `a(b(t))`.
 */
export function compose<Ctx extends CallContext>(layers: readonly Layer<Ctx>[], terminal: Handler<Ctx>): Handler<Ctx> {
  let handler = terminal;
  for (let i = layers.length - 1; i >= 0; i--) {
    handler = (layers[i] as Layer<Ctx>).wrap(handler);
  }
  return handler;
}
