/**
 * Network value helpers shared by client identification, the SSRF guard and the path
 * checks of route forwarding and `/proxy/stream`.
 * @module
 */
export * from "./ip.ts";
export * from "./path.ts";
