/**
 * Routing: route selection, header policy, upstream clients, forwarding with timeouts,
 * retries and a shared retry budget.
 * @module
 */
export * from "./select_route.ts";
export * from "./forward.ts";
export * from "./headers.ts";
export * from "./upstream_url.ts";
export * from "./retry.ts";
export * from "./body.ts";
export { ClientPool, type ClientSettings, clientSettings, firstHop } from "./clients.ts";
export {
  classifyUpstreamError,
  toProxyError,
  UpstreamFailure,
  type UpstreamFailureKind,
} from "./upstream_failure.ts";
export * from "./metrics.ts";
