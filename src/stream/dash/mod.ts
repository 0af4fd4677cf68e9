/**
 * DASH to HLS: an MPD parsed into plain values, expanded into segments for every
 * addressing mode, and written as HLS multivariant and media playlists, on routes
 * (`dash.to_hls`) and in direct mode (`/proxy/mpd/...`).
 * @module
 */
export * from "./direct.ts";
export * from "./model.ts";
export * from "./renditions.ts";
export * from "./respond.ts";
export * from "./route.ts";
export * from "./segments.ts";
export * from "./sidx.ts";
export * from "./to_hls.ts";
export { parseDateTime, parseDuration } from "./_time.ts";
export * from "./direct_segment.ts";
