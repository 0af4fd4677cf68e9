/**
 * Network value helpers shared by client identification, the SSRF guard, the path checks
 * of route forwarding and `/proxy/stream`, the hop-by-hop rule of proxies and the cache, and
 * the hex and base64url notations of keys and tokens, and responses whose body is in memory.
 * @module
 */
export * from "./ip.ts";
export * from "./path.ts";
export * from "./hop_by_hop.ts";
export * from "./bytes.ts";
export * from "./memory_body.ts";
export * from "./upstream_pool.ts";
export * from "./deadlines.ts";
