// The breaker's settings per destination: its DestinationRule's weft.io/breaker annotation, else the mesh's, with every default.
import { BREAKER_ANNOTATION, type BreakerSettings, parseDurationMs } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';

/**
 * weft's defaults, Hystrix's (the model opossum follows) rather than opossum's own: opossum opens
 * on the very first failure (its volume threshold is 0) and stays open 30 s.
 */
export const BREAKER_DEFAULTS = {
  /** Open when more than this share of the window's calls failed. */
  failurePercent: 50,
  /** …and the window saw at least this many calls. */
  minimumCalls: 20,
  /** The rolling window, counted in `buckets` buckets. */
  windowMs: 10_000,
  buckets: 10,
  /** Time open before one probe call is let through (half-open). */
  openForMs: 5_000,
} as const;

/** What a breaker runs with, every field filled; compiled once per settings text. */
export interface BreakerPolicy {
  readonly failurePercent: number;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly buckets: number;
  readonly openForMs: number;
}

export function compileBreakerPolicy(settings: BreakerSettings): BreakerPolicy {
  const d = BREAKER_DEFAULTS;
  const windowMs = settings.window === undefined ? d.windowMs : (parseDurationMs(settings.window) ?? d.windowMs);
  return {
    failurePercent: settings.failurePercent ?? d.failurePercent,
    minimumCalls: settings.minimumCalls ?? d.minimumCalls,
    // A window shorter than its buckets would rotate more often than once per ms.
    windowMs: Math.max(windowMs, d.buckets),
    buckets: d.buckets,
    openForMs: settings.openFor === undefined ? d.openForMs : (parseDurationMs(settings.openFor) ?? d.openForMs),
  };
}

/**
 * The breaker settings of a call's destination, or `undefined` for none: the DestinationRule's
 * `weft.io/breaker` annotation (`false` turns off the mesh's), else `meshDefault` (the mesh's
 * `breaker.everyDestination`). Compiled policies are kept per annotation text, so a call reads
 * one string and one Map entry.
 */
export function breakerPolicyResolver(
  meshDefault: BreakerPolicy | undefined,
): (ctx: ClientCallContext) => BreakerPolicy | undefined {
  const compiled = new Map<string, BreakerPolicy | undefined>();
  return (ctx) => {
    const service = ctx.service;
    if (service === undefined || ctx.policy === undefined) return meshDefault;
    const text = ctx.policy.forHost(service)?.destinationRules[0]?.annotations[BREAKER_ANNOTATION];
    if (text === undefined) return meshDefault;
    if (compiled.has(text)) return compiled.get(text);
    let policy: BreakerPolicy | undefined;
    try {
      const parsed = JSON.parse(text) as BreakerSettings | false;
      policy = parsed === false ? undefined : compileBreakerPolicy(parsed);
    } catch {
      // The policy loader refuses a bad annotation; a hand-made snapshot could still hold one.
      policy = meshDefault;
    }
    compiled.set(text, policy);
    return policy;
  };
}
