/**
 * Routing: route selection, header policy, upstream clients, forwarding with timeouts,
 * retries and a shared retry budget, origin failover with passive and active health.
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
  describeError,
  toProxyError,
  UpstreamFailure,
  type UpstreamFailureKind,
} from "./upstream_failure.ts";
export * from "./metrics.ts";
export { type OriginPlan, originsOf } from "./origins.ts";
export { type OriginHealthSnapshot } from "./origin_health.ts";
