// The hedge layer: a backup attempt to another endpoint when the first is slow; the first answer wins, the other is aborted.
import { type Handler, type Layer, WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import { parseDurationMs } from '@weft/policy';
import { ClientCallContext } from '../../client/context.js';
import type { RetryBudget } from '../retry/budget.js';
import { IDEMPOTENT_METHODS } from '../retry/classify.js';

/** The VirtualService annotation that turns hedging on for its routes: a duration, or `p95`/`p99` of observed latency. */
export const HEDGE_ANNOTATION = 'weft.io/hedge-delay';

export interface HedgeOptions {
  /** The retry budget of a call's destination: a backup attempt draws on it like a retry. */
  budgetFor: (ctx: ClientCallContext) => RetryBudget;
  /** Observed latency quantile of a service's calls, in ms; undefined while too few calls were seen. */
  latency: (service: string, quantile: number) => number | undefined;
}

/** A delay setting: fixed ms, or a quantile of observed latency. */
type Delay = { ms: number } | { quantile: number };

const QUANTILES: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

function parseDelay(value: string | number | undefined): Delay | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value > 0 ? { ms: value } : undefined;
  const q = QUANTILES[value];
  if (q !== undefined) return { quantile: q };
  const ms = parseDurationMs(value);
  if (ms === undefined || ms <= 0) {
    throw new WeftError(
      'WEFT_ERR_OPTION_VALUE',
      `hedge delay "${value}" is neither a duration nor one of ${Object.keys(QUANTILES).join(', ')}`,
    );
  }
  return { ms };
}

const routeDelays = new WeakMap<object, Delay | undefined>();

/** The call's hedge delay, by precedence call > route (its VirtualService's annotation); undefined: no hedging. */
function delayFor(ctx: ClientCallContext): Delay | undefined {
  const own = ctx.overrides?.hedge;
  if (own === false) return undefined;
  if (own !== undefined) return parseDelay(own.delay);
  const route = ctx.route;
  if (route === undefined) return undefined;
  if (!routeDelays.has(route)) routeDelays.set(route, parseDelay(route.annotations[HEDGE_ANNOTATION]));
  return routeDelays.get(route);
}

/** A context of its own for one of the two attempts, with its own abort, so the loser can be cut alone. */
function attemptContext(ctx: ClientCallContext, signal: AbortSignal): ClientCallContext {
  const c = new ClientCallContext(ctx.deadline, signal);
  c.service = ctx.service;
  c.snapshot = ctx.snapshot;
  // A call with no snapshot (a host declared outside the mesh) has its one endpoint already: balance picks none.
  if (ctx.snapshot === undefined) c.endpoint = ctx.endpoint;
  c.policy = ctx.policy;
  c.route = ctx.route;
  c.subset = ctx.subset;
  c.overrides = ctx.overrides;
  c.inheritedDeadline = ctx.inheritedDeadline;
  c.attempt = ctx.attempt;
  c.responseFlags = ctx.responseFlags;
  c.triedEndpoints = ctx.triedEndpoints === undefined ? undefined : [...ctx.triedEndpoints];
  // The call's trace, so each of the two attempts gets its span and its trace headers.
  c.traceSpan = ctx.traceSpan;
  c.traceParent = ctx.traceParent;
  return c;
}

function follow(outer: AbortSignal | undefined, controller: AbortController): () => void {
  if (outer === undefined) return () => {};
  if (outer.aborted) {
    controller.abort(outer.reason);
    return () => {};
  }
  const onAbort = (): void => controller.abort(outer.reason);
  outer.addEventListener('abort', onAbort, { once: true });
  return () => outer.removeEventListener('abort', onAbort);
}

function discard(response: WeftResponse): void {
  const body = response.body;
  if (body !== null && typeof body === 'object' && 'destroy' in body) body.destroy();
}

/**
 * Hedging, which no mesh API offers: for an idempotent call on a route that asks for it
 * (annotation `weft.io/hedge-delay` on its VirtualService, or `weft: { hedge }` on the call),
 * when no answer came within the delay, a backup attempt goes to another endpoint if the
 * destination's retry budget allows; the first answer wins and the other attempt is aborted.
 * Sits below retry (a hedged pair is one attempt to it) and above balance (each attempt picks
 * its endpoint, the backup avoiding the first's). Calls without hedging pass straight through.
 */
export function hedge(options: HedgeOptions): Layer<ClientCallContext> {
  return {
    role: 'hedge',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        let delay: Delay | undefined;
        try {
          delay = delayFor(ctx);
        } catch (error) {
          return Promise.reject(error);
        }
        const body = request.body;
        const replayable = body === null || typeof body === 'string' || body instanceof Uint8Array;
        if (
          delay === undefined ||
          !replayable ||
          !IDEMPOTENT_METHODS.has(request.method) ||
          ctx.service === undefined
        ) {
          return next(request, ctx);
        }
        const delayMs = 'ms' in delay ? delay.ms : options.latency(ctx.service, delay.quantile);
        if (delayMs === undefined || delayMs >= ctx.remainingMs()) return next(request, ctx);
        return race(next, request, ctx, delayMs, options.budgetFor(ctx));
      };
    },
  };
}

function race(
  next: Handler<ClientCallContext>,
  request: WeftRequest,
  ctx: ClientCallContext,
  delayMs: number,
  budget: RetryBudget,
): Promise<WeftResponse> {
  return new Promise<WeftResponse>((resolve, reject) => {
    const lost = new WeftError('WEFT_ERR_ABORTED', 'hedged attempt lost the race', { service: ctx.service });
    const controllers: AbortController[] = [];
    const unlinks: (() => void)[] = [];
    let settled = false;
    let running = 0;
    let lastError: unknown;
    let withdrew = false;
    const finish = (): void => {
      clearTimeout(timer);
      for (const unlink of unlinks) unlink();
      if (withdrew) budget.release();
    };
    const start = (backup: boolean): void => {
      const controller = new AbortController();
      controllers.push(controller);
      unlinks.push(follow(ctx.signal, controller));
      const own = attemptContext(ctx, controller.signal);
      if (backup) {
        const first = ctx.endpoint?.address;
        own.triedEndpoints = first === undefined ? own.triedEndpoints : [...(own.triedEndpoints ?? []), first];
      }
      running++;
      next(request, own).then(
        (response) => {
          running--;
          if (settled) {
            discard(response);
            return;
          }
          settled = true;
          finish();
          for (const c of controllers) if (c !== controller) c.abort(lost);
          ctx.endpoint = own.endpoint;
          ctx.triedEndpoints = own.triedEndpoints;
          ctx.responseFlags = own.responseFlags;
          resolve(response);
        },
        (error: unknown) => {
          running--;
          lastError = error;
          // The other attempt may still answer; with none left, the failure goes up to the retry layer.
          if (!settled && running === 0) {
            settled = true;
            finish();
            ctx.endpoint = own.endpoint;
            ctx.responseFlags = own.responseFlags;
            reject(lastError);
          }
        },
      );
      if (!backup) ctx.endpoint = own.endpoint;
    };
    const timer = setTimeout(() => {
      if (settled || !budget.tryWithdraw()) return;
      withdrew = true;
      start(true);
    }, delayMs);
    start(false);
  });
}
