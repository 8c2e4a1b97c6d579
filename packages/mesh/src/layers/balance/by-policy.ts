// The strategy of each destination, from its DestinationRule's loadBalancer (a subset's own first), built once per setting.
import type { CallContext, WeftRequest } from '@weft/core';
import type { TrafficPolicy } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import { destinationTrafficPolicy } from '../../routing/destination.js';
import { hashKeyOf } from './hash-key.js';
import type { ChoosePicker, Picker } from './index.js';
import { leastRequest } from './least-request.js';
import { maglev } from './maglev.js';
import { random } from './random.js';
import { ringHash } from './ring-hash.js';

type LoadBalancer = NonNullable<TrafficPolicy['loadBalancer']>;

const hashKey = (ctx: CallContext): string | undefined => (ctx as ClientCallContext).hashKey;

/** The strategy a loadBalancer setting names; ROUND_ROBIN and what weft leaves to the default get `fallback`. */
function build(lb: LoadBalancer, fallback: Picker): Picker {
  const ch = lb.consistentHash;
  if (ch !== undefined) {
    if (ch.maglev !== undefined) return maglev({ tableSize: ch.maglev.tableSize, key: hashKey });
    const minimumRingSize = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    return ringHash({ ...(minimumRingSize === undefined ? {} : { minimumRingSize }), key: hashKey });
  }
  switch (lb.simple) {
    case 'RANDOM':
      return random();
    case 'LEAST_REQUEST':
    case 'LEAST_CONN':
      return leastRequest();
    default:
      // UNSPECIFIED, PASSTHROUGH and settings with only locality parts: the mesh's default.
      return fallback;
  }
}

/**
 * Chooses the strategy per call from the destination's DestinationRule: the subset's
 * `trafficPolicy.loadBalancer` if it has one, else the rule's, else `fallback` (weft's
 * default, round robin). Pickers are built once per setting object (a new policy snapshot
 * builds new ones). For consistent hashing, the call's hash key is taken from the request once.
 */
export function byDestinationRule(fallback: Picker): { choose: ChoosePicker } {
  const built = new WeakMap<object, Picker>();
  const choose = (ctx: CallContext, request: WeftRequest): Picker => {
    const c = ctx as ClientCallContext;
    const lb = destinationTrafficPolicy(c, 'loadBalancer');
    if (lb === undefined) return fallback;
    let picker = built.get(lb);
    if (picker === undefined) {
      picker = build(lb, fallback);
      built.set(lb, picker);
    }
    if (lb.consistentHash !== undefined && c.hashKey === undefined) {
      // No source address is known for an in-process caller: useSourceIp falls back to a random pick.
      c.hashKey = hashKeyOf(lb.consistentHash, request, undefined);
    }
    return picker;
  };
  return { choose };
}
