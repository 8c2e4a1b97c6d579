// The retry budget of each destination: its DestinationRule's `retryBudget` (Istio's) if it has one, else weft's windowed default.
import type { DestinationRuleSpec } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import {
  ConcurrentRetryBudget,
  type RetryBudget,
  UNLIMITED_BUDGET,
  type WindowedBudgetOptions,
  WindowedRetryBudget,
} from './budget.js';

interface Entry {
  /** The DestinationRule `retryBudget` object the budget was made from (undefined: weft's default). */
  readonly source: object | undefined;
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
    const rule = ctx.policy?.forHost(service)?.destinationRules[0]?.spec as DestinationRuleSpec | undefined;
    const istio = rule?.trafficPolicy?.retryBudget as
      | { percent?: { value?: number }; minRetryConcurrency?: number }
      | undefined;
    const entry = byService.get(service);
    if (entry !== undefined && entry.source === istio) return entry.budget;
    const budget =
      istio !== undefined
        ? new ConcurrentRetryBudget(istio.percent?.value ?? 20, istio.minRetryConcurrency ?? 3)
        : windowed === false
          ? UNLIMITED_BUDGET
          : new WindowedRetryBudget(windowed);
    byService.set(service, { source: istio, budget });
    return budget;
  };
}
