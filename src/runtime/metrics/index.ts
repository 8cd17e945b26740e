// Prometheus metrics: one registry per service, served over HTTP for scraping.
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
export {
  coordinatorMetrics,
  evaluatorMetrics,
  workerMetrics,
  type CoordinatorMetrics,
  type EvaluatorMetrics,
  type ServiceName,
  type WorkerMetrics,
} from './service-metrics.js';
