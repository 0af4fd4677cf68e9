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

let snapshotSource: (() => Promise<MetricsSnapshot[]>) | null = null;

/**
 * Makes {@linkcode renderMetrics} and {@linkcode metricsView} add up the snapshots `source`
 * returns (every isolate's, the first isolate's first); `null`: this isolate's registry alone.
 */
export function useSnapshotSource(source: (() => Promise<MetricsSnapshot[]>) | null): void {
  snapshotSource = source;
}

/** A metric read by name from {@linkcode metricsView}. */
export interface MetricReading {
  get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }>;
}

/**
 * The metrics registry as the process sees it: this isolate's, or with worker isolates the
 * sum of every isolate's (what the admin API reads).
 *
 * @example
 * ```ts
 * const requests = (await metricsView()).getSingleMetric("sprox_http_requests_total");
 * ```
 */
export async function metricsView(): Promise<
  { getSingleMetric(name: string): MetricReading | undefined }
> {
  if (!snapshotSource) return registry as never;
  return client.AggregatorRegistry.aggregate(await snapshotSource()) as never;
}

/**
 * The Prometheus text of `/metrics`: this isolate's registry, or with worker isolates the sum
 * of every isolate's (see {@linkcode useSnapshotSource}).
 */
export async function renderMetrics(): Promise<string> {
  return snapshotSource ? aggregateMetrics(await snapshotSource()) : registry.metrics();
}
