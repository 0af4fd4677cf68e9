/**
 * `GET /admin/stats`: the process-wide counters the console charts (every isolate's, added
 * up), read from the metrics registry by name (so the admin room needs no import of the cache or stream rooms).
 * Counters only grow; the console turns two readings into rates.
 * @module
 */
import { metricsView } from "../telemetry/mod.ts";

/** Counters since the process started, at one instant. */
export interface StatsReport {
  /** Unix milliseconds of the reading (the console divides by the time between readings). */
  readonly at: number;
  /** Requests answered, by status class (`2xx`, `3xx`, `4xx`, `5xx`). */
  readonly requests: Record<string, number>;
  /** Body bytes streamed to clients, by mode (`route`, `direct`, `speedtest`). */
  readonly bytes: Record<string, number>;
  /** HTTP cache lookups, by outcome (`hit`, `miss`, …); empty without a cache. */
  readonly cache: Record<string, number>;
}

/** The values of counter `name` summed by `label`. */
async function sumByLabel(name: string, label: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const metric = (await metricsView()).getSingleMetric(name);
  if (metric === undefined) return out;
  const { values } = await metric.get() as {
    values: { labels: Record<string, unknown>; value: number }[];
  };
  for (const { labels, value } of values) {
    const key = String(labels[label] ?? "");
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/**
 * Reads the counters the console charts.
 *
 * @example
 * ```ts
 * const { requests } = await statsReport(); // { "2xx": 12, "4xx": 1 }
 * ```
 */
export async function statsReport(): Promise<StatsReport> {
  const [requests, bytes, cache] = await Promise.all([
    sumByLabel("sprox_http_requests_total", "status_class"),
    sumByLabel("sprox_bytes_streamed_total", "mode"),
    sumByLabel("sprox_cache_requests_total", "outcome"),
  ]);
  return { at: Date.now(), requests, bytes, cache };
}
