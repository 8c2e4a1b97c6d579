// The outlier detection layer's inputs: Istio's OutlierDetection compiled once per settings object, with every default.
import type { TrafficPolicy } from '@weft/policy';
import { parseDurationMs } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import { destinationTrafficPolicy } from '../../routing/destination.js';

/** Istio's `OutlierDetection` as written in a DestinationRule's (or subset's) trafficPolicy. */
export type OutlierDetectionSettings = NonNullable<TrafficPolicy['outlierDetection']>;

/**
 * Every default, with its unit. These are what an Istio sidecar ends up with: Istio's documented
 * defaults where it sets the Envoy field, Envoy's own where it leaves the field unset.
 */
export const OUTLIER_DEFAULTS = {
  /** Consecutive 5xx (and, unsplit, local-origin failures) that eject an endpoint; 0 turns the check off. */
  consecutive5xxErrors: 5,
  /** Consecutive 502/503/504 that eject; 0 (the default) turns the check off. */
  consecutiveGatewayErrors: 0,
  /** Whether local-origin failures (connect, reset, timeout) are counted apart from upstream 5xx. */
  splitExternalLocalOriginErrors: false,
  /** Consecutive local-origin failures that eject, when split; 0 turns the check off. */
  consecutiveLocalOriginFailures: 5,
  /** How often ejections are swept (un-ejected, backoff decayed). */
  intervalMs: 10_000,
  /** The first ejection's length; each further ejection adds one more of it. */
  baseEjectionTimeMs: 30_000,
  /** Envoy's `max_ejection_time` (Istio leaves it unset): no ejection lasts longer. */
  maxEjectionTimeMs: 300_000,
  /** At most this share of the destination's endpoints is ejected at once (0 in Istio means the default). */
  maxEjectionPercent: 10,
  /** Below this share of healthy endpoints the balancer uses all of them (Envoy's panic threshold); 0 = never. */
  minHealthPercent: 0,
  /** Envoy's `always_eject_one_host`, which Istio does not set: eject one endpoint even when the cap forbids it. */
  alwaysEjectOneHost: false,
} as const;

/** What the detector decides with, compiled once; the hot path only reads it. */
export interface OutlierPolicy {
  /** 0 = off. */
  readonly consecutive5xxErrors: number;
  /** 0 = off; also 0 when it is not below an enabled 5xx threshold (that one would always fire first). */
  readonly consecutiveGatewayErrors: number;
  readonly splitExternalLocalOriginErrors: boolean;
  /** 0 = off; read only when `splitExternalLocalOriginErrors`. */
  readonly consecutiveLocalOriginFailures: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  /** 0..100. */
  readonly maxEjectionPercent: number;
  /** 0..100. */
  readonly minHealthPercent: number;
  readonly alwaysEjectOneHost: boolean;
  /**
   * The response statuses that count as errors (Istio's `outlierDetectionHttpErrorCodes`);
   * `undefined` means every 5xx.
   */
  readonly httpErrorCodes: ReadonlySet<number> | undefined;
}

const compiled = new WeakMap<OutlierDetectionSettings, OutlierPolicy>();

function durationMs(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  // The schema has checked the text already; a bad one here keeps the default.
  return parseDurationMs(text) ?? fallback;
}

/** Compiles Istio's OutlierDetection (as Istio translates it for Envoy), once per settings object. */
export function compileOutlierPolicy(settings: OutlierDetectionSettings): OutlierPolicy {
  let policy = compiled.get(settings);
  if (policy !== undefined) return policy;
  const d = OUTLIER_DEFAULTS;
  let c5xx = settings.consecutive5xxErrors ?? d.consecutive5xxErrors;
  let gateway = settings.consecutiveGatewayErrors ?? d.consecutiveGatewayErrors;
  // Istio 1.3 and before: `consecutiveErrors` meant gateway errors; the new fields win over it.
  const legacy = settings.consecutiveErrors ?? 0;
  if (legacy > 0 && settings.consecutive5xxErrors === undefined && settings.consecutiveGatewayErrors === undefined) {
    gateway = legacy;
    c5xx = 0;
  }
  // Every gateway error is a 5xx too: a gateway threshold at or above the 5xx one never fires first.
  if (c5xx > 0 && gateway >= c5xx) gateway = 0;
  const codes = settings.outlierDetectionHttpErrorCodes;
  policy = Object.freeze({
    consecutive5xxErrors: c5xx,
    consecutiveGatewayErrors: gateway,
    splitExternalLocalOriginErrors: settings.splitExternalLocalOriginErrors ?? d.splitExternalLocalOriginErrors,
    consecutiveLocalOriginFailures: settings.consecutiveLocalOriginFailures ?? d.consecutiveLocalOriginFailures,
    intervalMs: durationMs(settings.interval, d.intervalMs),
    baseEjectionTimeMs: durationMs(settings.baseEjectionTime, d.baseEjectionTimeMs),
    maxEjectionTimeMs: d.maxEjectionTimeMs,
    // Istio sets Envoy's max_ejection_percent only when it is > 0, so 0 leaves Envoy's 10.
    maxEjectionPercent:
      settings.maxEjectionPercent !== undefined && settings.maxEjectionPercent > 0
        ? Math.min(100, settings.maxEjectionPercent)
        : d.maxEjectionPercent,
    minHealthPercent: Math.min(100, settings.minHealthPercent ?? d.minHealthPercent),
    alwaysEjectOneHost: d.alwaysEjectOneHost,
    httpErrorCodes: codes === undefined || codes.length === 0 ? undefined : new Set(codes),
  });
  compiled.set(settings, policy);
  return policy;
}

/**
 * The outlier policy of a call's destination, from its DestinationRule: the subset's
 * `trafficPolicy.outlierDetection` if it has one, else the rule's; `undefined` when neither
 * says anything (Istio: no outlier detection). Usable as the layer's `policyFor`.
 */
export function outlierPolicyFromDestinationRule(ctx: ClientCallContext): OutlierPolicy | undefined {
  const settings = destinationTrafficPolicy(ctx, 'outlierDetection');
  return settings === undefined ? undefined : compileOutlierPolicy(settings);
}
