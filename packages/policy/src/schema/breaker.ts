// weft's failure-rate circuit breaker per destination: settings Istio has no field for, carried
// on a DestinationRule as the `weft.io/breaker` annotation (JSON) or written as `breaker` in the concise form.
import { z } from 'zod';
import { duration, params, uint32 } from './kit.js';

/** The DestinationRule annotation the breaker layer reads. */
export const BREAKER_ANNOTATION = 'weft.io/breaker';

/**
 * When a destination's breaker opens and for how long. Every field is optional; the mesh fills
 * the rest from its own defaults (docs/traffic.md): 50 %, 20 calls, 10 s, 5 s.
 */
export const breakerSettings = z.strictObject({
  /** Open when more than this share of the calls in the window failed (1–100). */
  failurePercent: z
    .number()
    .refine((n) => n >= 1 && n <= 100, {
      message: 'a failure percentage is between 1 and 100',
      ...params('WEFT_ERR_POLICY_PERCENT', 'a number from 1 to 100'),
    })
    .optional(),
  /** …and at least this many calls were made in the window: fewer never open it. */
  minimumCalls: uint32
    .refine((n) => n >= 1, {
      message: 'at least one call must be seen before a breaker can open',
      ...params('WEFT_ERR_POLICY_VALUE', 'an integer of 1 or more (20 by default)'),
    })
    .optional(),
  /** The rolling window the rate is counted over, in 10 buckets. */
  window: duration(100).optional(),
  /** How long an open breaker fails calls fast before it lets one probe through (half-open). */
  openFor: duration(1).optional(),
});

export type BreakerSettings = z.infer<typeof breakerSettings>;

/** The annotation's value: the settings, or `false` to turn off a breaker the mesh's defaults would give. */
export const breakerAnnotation = z.union([z.literal(false), breakerSettings]);
