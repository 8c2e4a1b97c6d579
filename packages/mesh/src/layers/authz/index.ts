// The authorization layer: a workload's AuthorizationPolicies decide, per inbound call, before the application runs.
import { type Handler, type Layer, type ServerCallContext, WeftError } from '@weft/core';
import type { PolicySnapshot } from '@weft/policy';
import type { RequestAttributes } from './attributes.js';
import { type Decision, decide, type Workload, type WorkloadPolicies, workloadPolicies } from './decide.js';

export type { RequestAttributes } from './attributes.js';
export {
  caseSensitivePathRules,
  type Decision,
  decide,
  type Workload,
  type WorkloadPolicies,
  workloadPolicies,
} from './decide.js';
export { type EscapedSlashes, type NormalizedPath, normalizePath, type PathNormalization } from './normalize.js';

/** Envoy's body for a request its RBAC filter denied: it names no policy. */
export const DENIED_BODY_MESSAGE = 'RBAC: access denied';

export interface AuthorizationOptions {
  /** The current policy snapshot. */
  current: () => PolicySnapshot;
  workload: Workload;
  /** Told of every denial and every audited call, with the reason (for the log and the counters). */
  onDecision: (decision: Decision, attributes: RequestAttributes) => void;
}

const EMPTY_HEADERS = {};

/**
 * Decides each inbound call by Istio's rules over the caller's proven identity (mTLS), its JWT
 * (RequestAuthentication, earlier in the pipeline), the normalised path, method, host, port,
 * headers and addresses. A denied call is answered 403 `RBAC: access denied` with
 * `WEFT_ERR_DENIED`; the reason goes to the log, never to the caller. A workload with no
 * AuthorizationPolicy pays one comparison per call.
 */
export function authorization(options: AuthorizationOptions): Layer<ServerCallContext> {
  let snapshot: PolicySnapshot | undefined;
  let policies: WorkloadPolicies | undefined;
  const policiesNow = (): WorkloadPolicies | undefined => {
    const current = options.current();
    if (current !== snapshot) {
      snapshot = current;
      const p = workloadPolicies(current, options.workload);
      policies = p.allow.length + p.deny.length + p.custom.length + p.audit.length === 0 ? undefined : p;
    }
    return policies;
  };
  return {
    role: 'authorization',
    wrap(next: Handler<ServerCallContext>): Handler<ServerCallContext> {
      return (request, ctx) => {
        const p = policiesNow();
        if (p === undefined) return next(request, ctx);
        const query = request.path.indexOf('?');
        const peer = ctx.peer;
        const host = request.headers.host;
        const attributes: RequestAttributes = {
          method: request.method,
          path: query === -1 ? request.path : request.path.slice(0, query),
          host: typeof host === 'string' ? host : request.authority,
          port: ctx.localPort,
          headers: (request.headers as RequestAttributes['headers']) ?? EMPTY_HEADERS,
          sourceIp: ctx.remoteAddress,
          remoteIp: ctx.remoteAddress,
          destinationIp: undefined,
          sni: undefined,
          principal: peer?.principal,
          namespace: peer?.namespace,
          serviceAccount:
            peer?.namespace === undefined || peer.serviceAccount === undefined
              ? undefined
              : `${peer.namespace}/${peer.serviceAccount}`,
          requestPrincipal: ctx.jwt?.principal,
          claims: ctx.jwt?.claims,
        };
        const decision = decide(p, attributes);
        if (!decision.allowed || decision.audited.length > 0) options.onDecision(decision, attributes);
        if (decision.allowed) return next(request, ctx);
        return Promise.reject(new WeftError('WEFT_ERR_DENIED', DENIED_BODY_MESSAGE, { service: ctx.localService }));
      };
    },
  };
}
