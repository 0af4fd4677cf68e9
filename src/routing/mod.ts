/**
 * Routing: route selection and upstream forwarding.
 * @module
 */
export * from "./select_route.ts";
export * from "./forward.ts";
