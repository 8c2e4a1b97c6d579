// gRPC A50's success-rate and failure-percentage ejection: settings Istio's OutlierDetection has no field for,
// carried on a DestinationRule as the `weft.io/outlier-detection` annotation (JSON) or written in the concise form.
import { z } from 'zod';
import { params, uint32 } from './kit.js';

/** The DestinationRule annotation the outlier layer reads. */
export const OUTLIER_ANNOTATION = 'weft.io/outlier-detection';

const percentage = (what: string) =>
  uint32.refine((n) => n <= 100, {
    message: `${what} is a percentage, at most 100`,
    ...params('WEFT_ERR_POLICY_PERCENT', 'an integer from 0 to 100'),
  });

const atLeastOne = (what: string, fallback: number) =>
  uint32.refine((n) => n >= 1, {
    message: `${what} must be at least 1`,
    ...params('WEFT_ERR_POLICY_VALUE', `an integer of 1 or more (${fallback} by default)`),
  });

/**
 * Eject an endpoint whose success rate over the last interval is below
 * `mean − stdevFactor / 1000 × stdev` of the endpoints with enough calls (A50, Envoy's success rate).
 */
export const successRateEjection = z.strictObject({
  /** Thousandths of a standard deviation: 1900 means 1.9. Default 1900. */
  stdevFactor: uint32.optional(),
  /** Chance, in %, that an outlier found is ejected. Default 100. */
  enforcementPercentage: percentage('enforcementPercentage').optional(),
  /** Endpoints with `requestVolume` calls needed before any is judged. Default 5. */
  minimumHosts: atLeastOne('minimumHosts', 5).optional(),
  /** Calls in the interval an endpoint needs to be judged. Default 100. */
  requestVolume: atLeastOne('requestVolume', 100).optional(),
});

/** Eject an endpoint whose failure percentage over the last interval is above `threshold` (A50). */
export const failurePercentageEjection = z.strictObject({
  /** Failure %, above which an endpoint is ejected. Default 85. */
  threshold: percentage('threshold').optional(),
  /** Chance, in %, that an endpoint over the threshold is ejected. Default 100. */
  enforcementPercentage: percentage('enforcementPercentage').optional(),
  /** Endpoints the destination needs before any is judged. Default 5. */
  minimumHosts: atLeastOne('minimumHosts', 5).optional(),
  /** Calls in the interval an endpoint needs to be judged. Default 50. */
  requestVolume: atLeastOne('requestVolume', 50).optional(),
});

/** The annotation's value: either algorithm or both; each is off unless given (`{}` turns one on with its defaults). */
export const outlierEjection = z.strictObject({
  successRateEjection: successRateEjection.optional(),
  failurePercentageEjection: failurePercentageEjection.optional(),
});

export type OutlierEjectionSettings = z.infer<typeof outlierEjection>;
