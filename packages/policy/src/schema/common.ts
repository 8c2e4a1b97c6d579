// Pieces several Istio kinds share: protobuf integer ranges, weights, destinations, percentages and selectors.
import { z } from 'zod';
import { host, labels, params, percent, port } from './kit.js';

export const INT32_MAX = 2_147_483_647;

/** protobuf `int32` where Istio rejects negative values (connection pool limits, counters). */
export const nonNegativeInt32 = z.number().int().min(0).max(INT32_MAX);

/** protobuf `uint64` as far as a JavaScript number carries it exactly. */
export const uint64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** An integer percentage, 0 to 100 (`maxEjectionPercent`, the deprecated `mirrorPercent`, …). */
export function integerPercent() {
  return percent().int();
}

/** Istio's `Percent` message: `{ value }`, a double from 0 to 100. */
export const percentMessage = z.strictObject({ value: percent().optional() });

/** A route destination's relative weight: an `int32` that is not negative. */
export const weight = z.number().superRefine((n, ctx) => {
  if (!Number.isInteger(n) || n < 0 || n > INT32_MAX) {
    ctx.addIssue({
      code: 'custom',
      message: n < 0 ? 'a weight cannot be negative' : 'a weight is a whole number',
      ...params('WEFT_ERR_ROUTE_WEIGHT', `an integer from 0 to ${INT32_MAX}; weights are relative, 0 sends nothing`),
    });
  }
});

/** An HTTP status code in the range Istio accepts for responses it makes up (`directResponse`, `fault.abort`). */
export function httpStatus(min = 200, max = 599) {
  return z
    .number()
    .int()
    .refine((n) => n >= min && n <= max, {
      message: `not an HTTP status between ${min} and ${max}`,
      ...params('WEFT_ERR_POLICY_VALUE', `an HTTP status code from ${min} to ${max}`),
    });
}

/** `PortSelector`: `{ number }`. */
export const portSelector = z.strictObject({ number: port.optional() });

/** `Destination`: a host of the registry, optionally a subset and a port. */
export const destination = z.strictObject({
  host,
  subset: z.string().optional(),
  port: portSelector.optional(),
});

/** The networking flavour of a workload selector (ServiceEntry, Sidecar): `{ labels }`, not `{ matchLabels }`. */
export const networkingWorkloadSelector = z.strictObject({ labels: labels.optional() });

/** `PolicyTargetReference` (istio.type.v1beta1): the Gateway API resource a policy attaches to. */
export const policyTargetReference = z.strictObject({
  group: z.string().optional(),
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
});

/** Namespaces a resource is visible to (`exportTo`): names, `.` (its own) or `*` (all). */
export const exportTo = z.array(z.string());
