/**
 * Shared test support.
 * @module
 */
export * from "./sprox.ts";
