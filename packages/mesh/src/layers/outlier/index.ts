// The outlier detection layer: hides ejected endpoints from the balancer and records each attempt's outcome per endpoint.
import { type Handler, isWeftError, type Layer, type WeftResponse } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { type AttemptOutcome, OutlierDetector } from './detector.js';
import type { OutlierPolicy } from './policy.js';

export {
  type AttemptOutcome,
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEndpointState,
} from './detector.js';
export {
  compileOutlierPolicy,
  FAILURE_PERCENTAGE_DEFAULTS,
  type FailurePercentagePolicy,
  OUTLIER_DEFAULTS,
  type OutlierDetectionSettings,
  type OutlierPolicy,
  outlierPolicyFromDestinationRule,
  SUCCESS_RATE_DEFAULTS,
  type SuccessRatePolicy,
} from './policy.js';

export interface OutlierDetectionOptions {
  /**
   * The destination's policy for this call; `undefined` for none (the call goes straight through).
   * Read once per destination (`ctx.snapshot.service`: the service, or `service|subset`) and policy
   * snapshot (`ctx.policy`), so it must depend on nothing else.
   */
  policyFor: (ctx: ClientCallContext) => OutlierPolicy | undefined;
  /** Clock in ms; `Date.now` by default. */
  now?: () => number;
  /** Uniform numbers in [0, 1) for A50's enforcement percentages; `Math.random` by default. */
  random?: () => number;
}

export interface OutlierDetectionLayer extends Layer<ClientCallContext> {
  /** The detector of each destination (keyed by snapshot service: `host`, or `host|subset`), for observability. */
  detectors(): Map<string, OutlierDetector>;
  /** Stops every detector's sweep timer; awaiting it is optional. */
  close(): Promise<void>;
}

interface Entry {
  /** The destination's detector; `undefined` while its policy has none. */
  readonly detector: OutlierDetector | undefined;
  /** The policy snapshot the entry was read from: the same snapshot skips the policy lookup. */
  readonly snapshot: unknown;
}

const LOCAL_ORIGIN = { localOrigin: true } as const satisfies AttemptOutcome;
const LOCAL_TIMEOUT = { localOrigin: true, timeout: true } as const satisfies AttemptOutcome;

/** What a failed attempt counts as: a local-origin failure, or nothing (caller aborts, refusals, …). */
function outcomeOf(error: unknown): AttemptOutcome | undefined {
  if (!isWeftError(error)) return undefined;
  switch (error.code) {
    case 'WEFT_ERR_UPSTREAM_CONNECT':
    case 'WEFT_ERR_PEER_IDENTITY':
    case 'WEFT_ERR_UPSTREAM_RESET':
      return LOCAL_ORIGIN;
    case 'WEFT_ERR_TIMEOUT':
      return LOCAL_TIMEOUT;
    default:
      return undefined;
  }
}

/**
 * Outlier detection (Istio's DestinationRule `outlierDetection`, as Envoy runs it), placed
 * between retry and balance. Before each attempt it narrows `ctx.snapshot` to the endpoints not
 * ejected, so the balancer never picks an ejected one and a retry goes elsewhere; after it, it
 * records the outcome for `ctx.endpoint`: the response status, or a local-origin failure for
 * connect failures, resets and timeouts. One detector per destination snapshot service (a subset
 * is its own Istio cluster, so its own detector). Calls without a policy or a snapshot go
 * straight through.
 */
export function outlierDetection(options: OutlierDetectionOptions): OutlierDetectionLayer {
  const { policyFor, now, random } = options;
  const detectors = new Map<string, OutlierDetector>();
  let closed = false;

  const detectorFor = (service: string, policy: OutlierPolicy): OutlierDetector => {
    let detector = detectors.get(service);
    if (detector === undefined) {
      detector = new OutlierDetector(service, policy, {
        ...(now === undefined ? {} : { now }),
        ...(random === undefined ? {} : { random }),
        sweep: !closed,
      });
      detectors.set(service, detector);
    } else if (detector.policy !== policy) {
      detector.setPolicy(policy);
    }
    return detector;
  };
  // What each destination's policy came to under the last policy snapshot a call carried.
  const entries = new Map<string, Entry>();
  const detectorOf = (service: string, ctx: ClientCallContext): OutlierDetector | undefined => {
    const entry = entries.get(service);
    if (entry !== undefined && entry.snapshot === ctx.policy && ctx.policy !== undefined) return entry.detector;
    const policy = policyFor(ctx);
    const detector = policy === undefined ? undefined : detectorFor(service, policy);
    if (ctx.policy !== undefined) entries.set(service, { detector, snapshot: ctx.policy });
    return detector;
  };

  return {
    role: 'outlier',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const snapshot = ctx.snapshot;
        if (snapshot === undefined) return next(request, ctx);
        const detector = detectorOf(snapshot.service, ctx);
        if (detector === undefined) return next(request, ctx);
        ctx.snapshot = detector.healthy(snapshot);
        return next(request, ctx).then(
          (response: WeftResponse) => {
            const endpoint = ctx.endpoint;
            if (endpoint !== undefined && detector.recordStatus(endpoint.address, response.status)) {
              ctx.ejected = endpoint.address;
            }
            return response;
          },
          (error: unknown) => {
            const endpoint = ctx.endpoint;
            const outcome = endpoint === undefined ? undefined : outcomeOf(error);
            if (outcome !== undefined && endpoint !== undefined && detector.record(endpoint.address, outcome)) {
              ctx.ejected = endpoint.address;
            }
            throw error;
          },
        );
      };
    },
    detectors: () => detectors,
    close(): Promise<void> {
      closed = true;
      for (const d of detectors.values()) d.close();
      return Promise.resolve();
    },
  };
}
