/**
 * hls.js for the console's preview player, served by the binary itself (no CDN). The npm
 * package's built file is imported as text: it is part of the module graph, so
 * `deno run -P=sprox` loads it from Deno's cache without a read permission and
 * `deno compile` embeds it in the binary.
 * @module
 */
import script from "hls.js/dist/hls.min.js" with { type: "text" };

/** `dist/hls.min.js` of hls.js 1.7.4 (the release the browser tests play with). */
export const HLS_JS: string = script;
