/**
 * `/proxy/stream` metrics on the process-global registry.
 * @module
 */
import client from "prom-client";
import { DURATION_BUCKETS, registry } from "../../telemetry/mod.ts";

/** How a `/proxy/stream` request ended. */
export type DirectOutcome =
  | "ok"
  | "allowlist_denied"
  | "ambiguous_path"
  | "content_type_denied"
  | "private_network"
  | "bad_override"
  | "bad_request"
  | "unauthorized"
  | "method_not_allowed"
  | "too_many_redirects"
  | "upstream_error"
  | "timeout"
  | "client_closed";

/** Requests to `/proxy/stream`, by outcome. */
export const directRequests = new client.Counter({
  name: "sprox_direct_requests_total",
  help: "Requests to /proxy/stream, by outcome.",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

/** Body bytes streamed from direct-stream upstreams to clients. */
export const directBytes = new client.Counter({
  name: "sprox_direct_bytes_streamed_total",
  help: "Body bytes streamed to clients by /proxy/stream.",
  registers: [registry],
});

/** Time from sending the upstream request to its response headers, per exchange. */
export const directUpstreamLatency = new client.Histogram({
  name: "sprox_direct_upstream_latency_seconds",
  help: "Time from sending a /proxy/stream upstream request to its response headers.",
  buckets: [...DURATION_BUCKETS],
  registers: [registry],
});

/** Maps an error reason to the outcome label. */
export function outcomeOf(reason: string): DirectOutcome {
  switch (reason) {
    case "allowlist_denied":
    case "ambiguous_path":
    case "content_type_denied":
    case "private_network":
    case "bad_override":
    case "bad_request":
    case "method_not_allowed":
    case "too_many_redirects":
    case "client_closed":
      return reason;
    case "unauthorized":
    case "forbidden":
    case "auth_blocked":
      return "unauthorized";
    case "upstream_timeout":
      return "timeout";
    default:
      return "upstream_error";
  }
}
