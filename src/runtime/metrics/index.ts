// Prometheus metrics: one registry per service, served over HTTP for scraping.
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
export {
  coordinatorMetrics,
  evaluatorMetrics,
  workerMetrics,
  WORKER_PHASES,
  type CoordinatorMetrics,
  type EvaluatorMetrics,
  type EventBacklogGauge,
  type EventBacklogSource,
  type ServiceName,
  type WorkerMetrics,
  type WorkerPhase,
} from './service-metrics.js';
