/**
 * The process-global Prometheus registry and the metrics every module shares.
 * Modules define their own metrics on {@linkcode registry}.
 * @module
 */
import client from "prom-client";

/** The one registry `/metrics` exposes. */
export const registry: client.Registry = new client.Registry();

/** Seconds buckets suited to video: milliseconds for playlists to tens of seconds for segments. */
export const DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Requests answered, by route, method and status class. */
export const httpRequests = new client.Counter({
  name: "sprox_http_requests_total",
  help: "HTTP requests answered, by route, method and status class.",
  labelNames: ["route", "method", "status_class"] as const,
  registers: [registry],
});

/** Time from request to response headers. */
export const httpRequestDuration = new client.Histogram({
  name: "sprox_http_request_duration_seconds",
  help: "Time from receiving a request to sending response headers.",
  labelNames: ["route", "method"] as const,
  buckets: [...DURATION_BUCKETS],
  registers: [registry],
});

/** `/health` probes answered. */
export const healthChecks = new client.Counter({
  name: "sprox_health_checks_total",
  help: "Health checks answered by /health.",
  registers: [registry],
});

/** Configuration reloads, by outcome. */
export const configReloads = new client.Counter({
  name: "sprox_config_reloads_total",
  help: "Configuration reloads by outcome (success, failure).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

/** Always 1; labels carry the hash of the active configuration. */
export const configInfo = new client.Gauge({
  name: "sprox_config_info",
  // Every isolate serves the same plan: one series, not one per isolate.
  aggregator: "first",
  help: "Information about the active configuration; the value is always 1.",
  labelNames: ["hash", "version"] as const,
  registers: [registry],
});

/** Bytes sent to clients in streamed bodies, by mode. */
export const bytesStreamed = new client.Counter({
  name: "sprox_bytes_streamed_total",
  help: "Body bytes streamed to clients, by mode (route, direct, speedtest).",
  labelNames: ["mode"] as const,
  registers: [registry],
});

/** Requests that ended in an error, by reason. */
export const requestErrors = new client.Counter({
  name: "sprox_request_errors_total",
  help: "Requests that ended in an error, by reason.",
  labelNames: ["reason"] as const,
  registers: [registry],
});

/** Requests refused by the rate limiter. */
export const rateLimitedRequests = new client.Counter({
  name: "sprox_rate_limited_requests_total",
  help: "Requests refused with 429 by the rate limiter.",
  registers: [registry],
});

/** Manifest transformations (HLS rewrite, DASH to HLS), by kind. */
export const manifestTransformDuration = new client.Histogram({
  name: "sprox_manifest_transform_duration_seconds",
  help: "Time spent rewriting or converting a manifest, by kind (hls_rewrite, dash_to_hls).",
  labelNames: ["kind"] as const,
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  registers: [registry],
});

/** `/keys` and `/keys/clearkey` requests, by endpoint and outcome. */
export const drmKeyRequests = new client.Counter({
  name: "sprox_drm_key_requests_total",
  help: "Requests to /keys and /keys/clearkey, by endpoint and outcome.",
  labelNames: ["endpoint", "outcome"] as const,
  registers: [registry],
});

/** When each TLS listener's certificate expires (refreshed at every scrape). */
export const tlsCertificateExpiry = new client.Gauge({
  name: "sprox_tls_certificate_expiry_timestamp_seconds",
  aggregator: "min",
  help: "Not-after time of the certificate served by each TLS listener, in Unix seconds.",
  labelNames: ["listener"] as const,
  registers: [registry],
});

/** The content type of the Prometheus text `/metrics` answers. */
export const METRICS_CONTENT_TYPE: string = registry.contentType;

/** Wrong credentials presented on protected endpoints (`/proxy/*`, `/keys*`). */
export const authFailures = new client.Counter({
  name: "sprox_auth_failures_total",
  help: "Wrong credentials presented on /proxy/* and /keys* (missing ones are not counted).",
  registers: [registry],
});

/** Client blocks started after repeated wrong credentials (`auth_abuse`). */
export const authBlocks = new client.Counter({
  name: "sprox_auth_blocked_total",
  help: "Clients blocked after auth_abuse.max_failures wrong credentials within the window.",
  registers: [registry],
});

/**
 * Time to look DRM keys up, per step: `store` (the secret store: configuration, run-time and
 * cached keys) and `remote` (a key server).
 */
export const drmKeyLookupDuration = new client.Histogram({
  name: "sprox_drm_key_lookup_duration_seconds",
  help: "Time to look DRM keys up, by source (store, shared, remote) and outcome.",
  labelNames: ["source", "outcome"] as const,
  buckets: [...DURATION_BUCKETS],
  registers: [registry],
});

/** Rate-limit decisions taken from local buckets because the shared state (Redis) failed. */
export const stateFallbacks = new client.Counter({
  name: "sprox_state_fallback_total",
  help: "Rate-limit decisions made with local buckets because Redis (state.redis_url) failed.",
  registers: [registry],
});

/**
 * Secret-store operations on the shared key tier (Redis) that failed and were answered by this
 * instance's own store alone: `put` and `delete` (admin API), `get` (a lookup), `list`.
 */
export const stateKeyFallbacks = new client.Counter({
  name: "sprox_state_key_fallback_total",
  help: "Shared key operations answered by the local secret store because Redis failed.",
  labelNames: ["operation"] as const,
  registers: [registry],
});

/**
 * A metric's children by label values, each made by `labels()` once instead of once per
 * request (prom-client still checks and hashes the labels on every `inc`/`observe`; what is
 * saved is the lookup and its argument handling). Only for label values from a bounded set
 * (route ids, methods, status classes).
 *
 * @example
 * ```ts
 * const requestsOf = metricChildren((route, method, status) => httpRequests.labels(route, method, status));
 * requestsOf("vod", "GET", "2xx").inc();
 * ```
 */
export function metricChildren<C>(labels: (...values: string[]) => C): (...values: string[]) => C {
  const children = new Map<string, C>();
  return (...values) => {
    const key = values.join("\u0000");
    let child = children.get(key);
    if (child === undefined) children.set(key, child = labels(...values));
    return child;
  };
}
