/**
 * HLS playlists: detection, bounded reading, and URI rewriting in route and direct mode.
 * @module
 */
export { attributeValue } from "./_attributes.ts";
export * from "./body.ts";
export * from "./direct.ts";
export * from "./insecure.ts";
export * from "./links.ts";
export * from "./resolve.ts";
export * from "./respond.ts";
export * from "./rewrite.ts";
export * from "./route.ts";
export * from "./signed_links.ts";
export * from "./variants.ts";
