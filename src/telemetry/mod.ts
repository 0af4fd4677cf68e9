/**
 * Telemetry: JSON logs and Prometheus metrics.
 * @module
 */
export { configureLogging, log, type LogLevel } from "./log.ts";
export * from "./metrics.ts";
