// Metrics: Istio's standard metrics and weft's own, in a Prometheus registry per mesh.
export {
  type CallSink,
  DestinationReporter,
  ISTIO_BUCKETS,
  ISTIO_LABELS,
  type IstioLabel,
  MAX_SERIES_PER_REPORTER,
  SourceReporter,
  UNKNOWN,
  type WorkloadInfo,
} from './istio.js';
export { METRICS_CONTENT_TYPE, MeshMetrics, type MeshMetricsSources } from './registry.js';
