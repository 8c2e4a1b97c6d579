// The connectionPool limits of a call's destination, from its DestinationRule (a subset's own first).
import type { ClientCallContext } from '../../client/context.js';
import { destinationTrafficPolicy } from '../../routing/destination.js';
import { compilePoolLimits, type PoolLimitsPolicy } from './policy.js';

export function poolLimitsFromDestinationRule(ctx: ClientCallContext): PoolLimitsPolicy | undefined {
  return compilePoolLimits(destinationTrafficPolicy(ctx, 'connectionPool'));
}
