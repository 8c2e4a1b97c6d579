// The outlier detection layer's inputs: Istio's OutlierDetection compiled once per settings object, with every default.
import type { OutlierEjectionSettings, PolicyResource, TrafficPolicy } from '@weft/policy';
import { OUTLIER_ANNOTATION, parseDurationMs } from '@weft/policy';
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

/** gRPC A50's (and Envoy's) defaults for success-rate ejection, opt-in through `weft.io/outlier-detection`. */
export const SUCCESS_RATE_DEFAULTS = {
  /** Thousandths of a standard deviation below the mean: 1900 = 1.9. */
  stdevFactor: 1900,
  /** Chance, in %, that an outlier found is ejected. */
  enforcementPercentage: 100,
  /** Endpoints with enough calls needed before any is judged. */
  minimumHosts: 5,
  /** Calls in one interval an endpoint needs to be judged. */
  requestVolume: 100,
} as const;

/** gRPC A50's defaults for failure-percentage ejection, opt-in through `weft.io/outlier-detection`. */
export const FAILURE_PERCENTAGE_DEFAULTS = {
  /** Failure %, above which an endpoint is ejected. */
  threshold: 85,
  /** Chance, in %, that an endpoint over the threshold is ejected. */
  enforcementPercentage: 100,
  /** Endpoints the destination needs before any is judged. */
  minimumHosts: 5,
  /** Calls in one interval an endpoint needs to be judged. */
  requestVolume: 50,
} as const;

/** Success-rate ejection as compiled: every field filled in. */
export interface SuccessRatePolicy {
  readonly stdevFactor: number;
  readonly enforcementPercentage: number;
  readonly minimumHosts: number;
  readonly requestVolume: number;
}

/** Failure-percentage ejection as compiled: every field filled in. */
export interface FailurePercentagePolicy {
  readonly threshold: number;
  readonly enforcementPercentage: number;
  readonly minimumHosts: number;
  readonly requestVolume: number;
}

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
  /** gRPC A50's success-rate ejection, run on each `interval` sweep; `undefined` = off (the default). */
  readonly successRate: SuccessRatePolicy | undefined;
  /** gRPC A50's failure-percentage ejection, run on each `interval` sweep; `undefined` = off (the default). */
  readonly failurePercentage: FailurePercentagePolicy | undefined;
}

const compiled = new WeakMap<OutlierDetectionSettings, OutlierPolicy>();
/** Policies with A50 settings, by Istio settings object, then by the annotation's text. */
const compiledWithRates = new WeakMap<OutlierDetectionSettings, Map<string, OutlierPolicy>>();
/** With only the annotation, Istio's consecutive-error checks stay off (no outlierDetection, no consecutive 5xx). */
const RATES_ONLY: OutlierDetectionSettings = Object.freeze({ consecutive5xxErrors: 0 });

function durationMs(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  // The schema has checked the text already; a bad one here keeps the default.
  return parseDurationMs(text) ?? fallback;
}

/**
 * Compiles Istio's OutlierDetection (as Istio translates it for Envoy), once per settings object,
 * with gRPC A50's success-rate and failure-percentage ejection when `rates` asks for them.
 */
export function compileOutlierPolicy(
  settings: OutlierDetectionSettings,
  rates?: OutlierEjectionSettings,
): OutlierPolicy {
  if (
    rates !== undefined &&
    (rates.successRateEjection !== undefined || rates.failurePercentageEjection !== undefined)
  ) {
    return compileWithRates(settings, rates);
  }
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
    successRate: undefined,
    failurePercentage: undefined,
  });
  compiled.set(settings, policy);
  return policy;
}

function compileWithRates(settings: OutlierDetectionSettings, rates: OutlierEjectionSettings): OutlierPolicy {
  const key = JSON.stringify(rates);
  let byText = compiledWithRates.get(settings);
  if (byText === undefined) {
    byText = new Map();
    compiledWithRates.set(settings, byText);
  }
  let policy = byText.get(key);
  if (policy !== undefined) return policy;
  const sr = rates.successRateEjection;
  const fp = rates.failurePercentageEjection;
  policy = Object.freeze({
    ...compileOutlierPolicy(settings),
    successRate: sr === undefined ? undefined : Object.freeze({ ...SUCCESS_RATE_DEFAULTS, ...sr }),
    failurePercentage: fp === undefined ? undefined : Object.freeze({ ...FAILURE_PERCENTAGE_DEFAULTS, ...fp }),
  });
  byText.set(key, policy);
  return policy;
}

/** The annotation's settings; the policy loader has checked them, so a bad value here (a hand-made snapshot) means none. */
function ratesOf(rule: PolicyResource): OutlierEjectionSettings | undefined {
  const text = rule.annotations[OUTLIER_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as OutlierEjectionSettings) : undefined;
  } catch {
    return undefined;
  }
}

/** The policy of each DestinationRule resource, by subset name ('' for none): `null` when it has none. */
const byRule = new WeakMap<PolicyResource, Map<string, OutlierPolicy | null>>();

/**
 * The outlier policy of a call's destination, from its DestinationRule: the subset's
 * `trafficPolicy.outlierDetection` if it has one, else the rule's, with the rule's
 * `weft.io/outlier-detection` annotation (A50's ejection) if it has one; `undefined` when none of
 * them says anything (Istio: no outlier detection). Usable as the layer's `policyFor`: after the
 * first call of a snapshot it costs one host lookup and two map reads.
 */
export function outlierPolicyFromDestinationRule(ctx: ClientCallContext): OutlierPolicy | undefined {
  if (ctx.service === undefined || ctx.policy === undefined) return undefined;
  const rule = ctx.policy.forHost(ctx.service)?.destinationRules[0];
  if (rule === undefined) return undefined;
  let bySubset = byRule.get(rule);
  if (bySubset === undefined) {
    bySubset = new Map();
    byRule.set(rule, bySubset);
  }
  const key = ctx.subset ?? '';
  let policy = bySubset.get(key);
  if (policy === undefined) {
    const settings = destinationTrafficPolicy(ctx, 'outlierDetection');
    const rates = ratesOf(rule);
    policy = settings === undefined && rates === undefined ? null : compileOutlierPolicy(settings ?? RATES_ONLY, rates);
    bySubset.set(key, policy);
  }
  return policy ?? undefined;
}
