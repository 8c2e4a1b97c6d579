// @weft/mesh: weft's entry point.

export {
  CallContext,
  type ConfigProblem,
  causedBy,
  compose,
  type Endpoint,
  type EndpointSnapshot,
  ERROR_CODES,
  type Handler,
  isWeftError,
  type Layer,
  type PeerIdentity,
  ServerCallContext,
  WeftError,
  type WeftErrorCode,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
export type { ExpressMiddleware } from './adapters/express.js';
export type { FetchFunction, MeshRequestInit } from './adapters/fetch.js';
export type { AdminOptions, AdminServer } from './admin/index.js';
export { OutboundClient } from './client/client.js';
export type { CallOverrides } from './client/context.js';
export { buildClientPipeline, clientLayers } from './client/pipeline.js';
export { Cluster, ServiceRegistry } from './discovery/registry.js';
export {
  BREAKER_DEFAULTS,
  type BreakerPolicy,
  type BreakerState,
  type BreakerStateChange,
  type BreakerView,
  bufferBody,
  type FailureClassifier,
} from './layers/breaker/index.js';
export type { EndpointStatsView, LatencyView, ServiceStatsView } from './layers/stats/index.js';
export { createMesh, type Mesh, type MeshStats } from './mesh.js';
export { MeshPolicy } from './mesh-policy.js';
export type { Logger } from './options/logger.js';
export {
  DEFAULTS,
  type MeshOptions,
  type ResolvedMeshOptions,
  type SecurityOptions,
  type StaticEndpoint,
} from './options/mesh-options.js';
export type { ExplainRequest, Explanation, Setting } from './routing/explain.js';
export type { SecurityStatsView } from './security/stats.js';
export type { ListenOptions, MeshServer } from './server/listen.js';
export { buildServerPipeline, serverLayers } from './server/pipeline.js';
export { ISTIO_BUCKETS, ISTIO_LABELS, METRICS_CONTENT_TYPE } from './telemetry/metrics/index.js';
export {
  type PropagatorName,
  REQUEST_ID_HEADER,
  TRACER_NAME,
  TRACING_DEFAULTS,
  type TracingOptions,
} from './telemetry/tracing/index.js';
