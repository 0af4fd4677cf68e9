/**
 * Network value helpers shared by client identification, the SSRF guard, the path checks
 * of route forwarding and `/proxy/stream`, and the hop-by-hop rule of proxies and the cache.
 * @module
 */
export * from "./ip.ts";
export * from "./path.ts";
export * from "./hop_by_hop.ts";
