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

/** Origins whose health gauge is refreshed at each scrape (those of the active plan). */
export const liveOrigins: Set<{ publish(): void }> = new Set();

/** 1 while an origin may take requests, 0 while ejected or failing its active checks. */
export const originHealthy: client.Gauge<"route" | "origin"> = new client.Gauge({
  name: "sprox_upstream_origin_healthy",
  // Each isolate checks on its own: an origin counts as healthy when every isolate says so.
  aggregator: "min",
  help: "1 while an origin takes requests, 0 while ejected or failing its active checks.",
  labelNames: ["route", "origin"] as const,
  registers: [registry],
  collect() {
    // A passive ejection ends with time, not with an event: refresh before each scrape.
    for (const origin of liveOrigins) origin.publish();
  },
});

/** Passive ejections, by route and origin. */
export const originEjections: client.Counter<"route" | "origin"> = new client.Counter({
  name: "sprox_upstream_origin_ejections_total",
  help: "Origins ejected after consecutive failed attempts, by route and origin.",
  labelNames: ["route", "origin"] as const,
  registers: [registry],
});

/** Upstream attempts by route, origin and outcome (`success`, `failure`). */
export const originAttempts: client.Counter<"route" | "origin" | "outcome"> = new client
  .Counter({
  name: "sprox_upstream_origin_attempts_total",
  help: "Upstream attempts by route, origin and outcome (success, failure).",
  labelNames: ["route", "origin", "outcome"] as const,
  registers: [registry],
});

/** Active health checks by route, origin and result (`pass`, `fail`). */
export const originHealthChecks: client.Counter<"route" | "origin" | "result"> = new client
  .Counter({
  name: "sprox_upstream_health_checks_total",
  help: "Active health checks of origins, by route, origin and result (pass, fail).",
  labelNames: ["route", "origin", "result"] as const,
  registers: [registry],
});
