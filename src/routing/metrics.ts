/**
 * Metrics of the upstream side, on the process-global registry.
 * @module
 */
import client from "prom-client";
import { DURATION_BUCKETS, registry } from "../telemetry/mod.ts";

/** Retries performed, by scope (a route id, or `direct` for `/proxy/stream`). */
export const upstreamRetries: client.Counter<"scope"> = new client.Counter({
  name: "sprox_upstream_retries_total",
  help: "Upstream attempts retried, by scope (route id or direct).",
  labelNames: ["scope"] as const,
  registers: [registry],
});

/** Retries refused because the process-wide retry budget was spent. */
export const retryBudgetExhausted: client.Counter<"scope"> = new client.Counter({
  name: "sprox_retry_budget_exhausted_total",
  help: "Retries refused because the process-wide retry budget was exhausted, by scope.",
  labelNames: ["scope"] as const,
  registers: [registry],
});

/** Time from sending an upstream request to its response headers, per attempt. */
export const upstreamLatency: client.Histogram<"scope"> = new client.Histogram({
  name: "sprox_upstream_latency_seconds",
  help: "Time from sending an upstream request to receiving its response headers.",
  labelNames: ["scope"] as const,
  buckets: [...DURATION_BUCKETS],
  registers: [registry],
});

/** Upstream failures by scope and reason (connect_timeout, timeout, read_timeout, ...). */
export const upstreamErrors: client.Counter<"scope" | "reason"> = new client.Counter({
  name: "sprox_upstream_errors_total",
  help: "Upstream failures by scope and reason.",
  labelNames: ["scope", "reason"] as const,
  registers: [registry],
});
