/**
 * Network value helpers shared by client identification and the SSRF guard.
 * @module
 */
export * from "./ip.ts";
