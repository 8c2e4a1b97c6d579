// The retry budget of each destination: its DestinationRule's `retryBudget` (Istio's) if it has one, else weft's windowed default.
import type { DestinationRuleSpec } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import {
  ConcurrentRetryBudget,
  type RetryBudget,
  UNLIMITED_BUDGET,
  WINDOWED_BUDGET_DEFAULTS,
  type WindowedBudgetOptions,
  WindowedRetryBudget,
} from './budget.js';

/** DestinationRule annotation for weft's windowed budget: JSON `{ percentCanRetry, minRetriesPerSecond, ttlMs }`, or `false`. */
export const RETRY_BUDGET_ANNOTATION = 'weft.io/retry-budget';

interface Entry {
  /** The DestinationRule `retryBudget` object or annotation the budget was made from (undefined: the mesh's). */
  readonly source: object | string | undefined;
  readonly budget: RetryBudget;
}

/**
 * One budget per destination service, shared by all its calls. `windowed: false` turns weft's
 * default budget off (a DestinationRule's own `retryBudget` still applies).
 */
export function retryBudgets(windowed: WindowedBudgetOptions | false): (ctx: ClientCallContext) => RetryBudget {
  const byService = new Map<string, Entry>();
  return (ctx) => {
    const service = ctx.service;
    if (service === undefined) return UNLIMITED_BUDGET;
    const resource = ctx.policy?.forHost(service)?.destinationRules[0];
    const rule = resource?.spec as DestinationRuleSpec | undefined;
    const istio = rule?.trafficPolicy?.retryBudget as { percent?: number; minRetryConcurrency?: number } | undefined;
    // weft's own, from the concise form (or written by hand): a JSON object of WindowedBudgetOptions, or false.
    const own = resource?.annotations[RETRY_BUDGET_ANNOTATION];
    const source = istio ?? own;
    const entry = byService.get(service);
    if (entry !== undefined && entry.source === source) return entry.budget;
    let budget: RetryBudget;
    if (istio !== undefined)
      // Istio's `percent` is a DoubleValue: a plain number in YAML and JSON.
      budget = new ConcurrentRetryBudget(istio.percent ?? 20, istio.minRetryConcurrency ?? 3);
    else if (own !== undefined) {
      // The policy loader checked the annotation; a hand-made snapshot could still hold anything.
      let parsed: Partial<WindowedBudgetOptions> | false;
      try {
        parsed = JSON.parse(own) as Partial<WindowedBudgetOptions> | false;
      } catch {
        parsed = {};
      }
      budget =
        parsed === false ? UNLIMITED_BUDGET : new WindowedRetryBudget({ ...WINDOWED_BUDGET_DEFAULTS, ...parsed });
    } else budget = windowed === false ? UNLIMITED_BUDGET : new WindowedRetryBudget(windowed);
    byService.set(service, { source, budget });
    return budget;
  };
}
