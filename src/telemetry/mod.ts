/**
 * Telemetry: JSON logs, redaction and Prometheus metrics.
 * @module
 */
export {
  configureLogging,
  flushLogs,
  log,
  type LogLevel,
  protectSecrets,
  recentProblems,
  rememberProblemLines,
  sendLogsTo,
  tagLogLines,
  writeLogText,
} from "./log.ts";
export * from "./metrics.ts";
export * from "./connection_metrics.ts";
export * from "./process_metrics.ts";
export {
  isDrmPath,
  isSensitiveQueryName,
  type QueryRedaction,
  REDACTED,
  redactHeaders,
  redactPathAndQuery,
  redactQuery,
  redactText,
  redactUrl,
  SENSITIVE_HEADERS,
} from "./redact.ts";
export { annotateRequestSpan, inSpan } from "./tracing.ts";
export {
  type MetricReading,
  type MetricsSnapshot,
  metricsView,
  renderMetrics,
  snapshotMetrics,
  useSnapshotSource,
} from "./aggregate.ts";
