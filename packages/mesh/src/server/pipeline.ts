// The inbound (server) pipeline, written down once: the first layer sees a call first.
import { compose, type Handler, type Layer, type ServerCallContext } from '@weft/core';
import { type RequestAuthenticationOptions, requestAuthentication } from '../layers/authn/index.js';
import { type AuthorizationOptions, authorization } from '../layers/authz/index.js';
import { stats, type TrafficStats } from '../layers/stats/index.js';
import { type AccessLogOptions, accessLog } from '../telemetry/access-log/index.js';
import { inboundRequestIds } from '../telemetry/request-id/index.js';
import type { Tracing } from '../telemetry/tracing/index.js';

export interface ServerPipelineParts {
  stats: TrafficStats;
  /** This workload's fully qualified service name, under which inbound calls are counted. */
  localService: string;
  /** Whose propagated deadline an inbound call adopts. */
  inboundDeadlines: 'mesh' | 'any' | 'none';
  /** The mesh's tracing layers; `undefined` when tracing is off. */
  tracing: Tracing | undefined;
  /** Whether x-request-id is made at the edge and carried (the mesh's `requestId` option). */
  requestId: boolean;
  /**
   * Whether the workload could make an outbound call: false while the registry has no service
   * (a leaf), whose inbound calls then skip AsyncLocalStorage and its per-promise cost.
   */
  mayCallOut: () => boolean;
  /** Access logs of inbound calls; `undefined` when off. */
  accessLog: AccessLogOptions | undefined;
  /** The workload's RequestAuthentication rules, from the current policy. */
  requestAuthentication: RequestAuthenticationOptions;
  /** The workload's AuthorizationPolicies, from the current policy. */
  authorization: AuthorizationOptions;
  /** Istio's path normalisation, applied to every inbound path before any layer reads it. */
  pathNormalization: import('../layers/authz/index.js').PathNormalization;
  /** Envoy's action on `%2F` and `%5C` where the mode does not decode them. */
  escapedSlashes: import('../layers/authz/index.js').EscapedSlashes;
}

/**
 * The server stack. Its terminal handler is the application (Express or Fastify), supplied
 * by the adapter: it resolves once the application has sent its response. A layer that
 * answers by itself (authorization) short-circuits the application.
 */
export function serverLayers(parts: ServerPipelineParts): Layer<ServerCallContext>[] {
  const local = parts.localService;
  return [
    // Outermost, so the application's time and every refusal are counted.
    stats<ServerCallContext>(parts.stats, () => local),
    // x-request-id, made here at the edge: above tracing, which tags the span with it, and the
    // access log, which logs it.
    ...(parts.requestId ? [inboundRequestIds()] : []),
    // Tracing, the SERVER span: near the top, so it covers authn/authz refusals.
    ...(parts.tracing === undefined ? [] : [parts.tracing.inbound]),
    // Access log (opt-in): next to stats, so refusals (401, 403) are logged too.
    ...(parts.accessLog === undefined ? [] : [accessLog<ServerCallContext>('destination', parts.accessLog)]),
    // (Peer authentication happens below the pipeline, on the connection: a refused peer never sends a request.)
    // RequestAuthentication: a bad JWT is refused (401); a good one's claims go to authorization.
    requestAuthentication(parts.requestAuthentication),
    // AuthorizationPolicy over the proven peer, the JWT, and the normalised path: 403 before the application runs.
    authorization(parts.authorization),
  ];
}

export function buildServerPipeline(
  parts: ServerPipelineParts,
  application: Handler<ServerCallContext>,
): Handler<ServerCallContext> {
  return compose(serverLayers(parts), application);
}
