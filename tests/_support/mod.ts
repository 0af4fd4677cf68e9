/**
 * Shared test support.
 * @module
 */
export * from "./sprox.ts";
export * from "./tls.ts";
