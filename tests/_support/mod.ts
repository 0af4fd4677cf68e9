/**
 * Shared test support.
 * @module
 */
export * from "./sprox.ts";
export * from "./tls.ts";
export * from "./timeout.ts";
export * from "./peers.ts";
