// The connectionPool limits of a call's destination, from its DestinationRule (a subset's own first).
import type { DestinationRuleSpec } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import { compilePoolLimits, type PoolLimitsPolicy } from './policy.js';

export function poolLimitsFromDestinationRule(ctx: ClientCallContext): PoolLimitsPolicy | undefined {
  const service = ctx.service;
  if (service === undefined || ctx.policy === undefined) return undefined;
  const rule = ctx.policy.forHost(service)?.destinationRules[0]?.spec as DestinationRuleSpec | undefined;
  if (rule === undefined) return undefined;
  const subset = ctx.subset === undefined ? undefined : rule.subsets?.find((s) => s.name === ctx.subset);
  return compilePoolLimits(subset?.trafficPolicy?.connectionPool ?? rule.trafficPolicy?.connectionPool);
}
