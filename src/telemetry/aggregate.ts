/**
 * Metrics across worker isolates: each isolate's registry as plain data, and their sum
 * (counters and histograms add up; gauges add up unless the metric says otherwise: process
 * figures are the first isolate's, lags the worst, health the lowest).
 * @module
 */
import client from "prom-client";
import { registry } from "./metrics.ts";

/** One isolate's metrics as plain data (structured-cloneable). */
export type MetricsSnapshot = Awaited<ReturnType<typeof registry.getMetricsAsJSON>>;

/** This isolate's metrics, as plain data. */
export function snapshotMetrics(): Promise<MetricsSnapshot> {
  return registry.getMetricsAsJSON();
}

/**
 * The Prometheus text of several isolates' snapshots together, the first isolate's first.
 *
 * @example
 * ```ts
 * const text = await aggregateMetrics([await snapshotMetrics(), ...fromWorkers]);
 * ```
 */
export function aggregateMetrics(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return client.AggregatorRegistry.aggregate(snapshots as MetricsSnapshot[]).metrics();
}
