/**
 * hls.js for browser tests, fetched from the npm registry with `npm pack` (npm is how this
 * project gets Deno, so it is there).
 * @module
 */
import assert from "node:assert/strict";

/** The hls.js release the browser tests play with. */
export const HLS_JS = "hls.js@1.7.4";

/**
 * Downloads and unpacks hls.js into `dir`; returns `dist/hls.min.js`.
 *
 * @example
 * ```ts
 * const script = await fetchHlsJs(dir);
 * ```
 */
export async function fetchHlsJs(dir: string): Promise<Uint8Array> {
  const out = await new Deno.Command("npm", {
    args: ["pack", HLS_JS, "--pack-destination", dir, "--silent"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const tarball = `${dir}/${new TextDecoder().decode(out.stdout).trim().split("\n").pop()}`;
  const untar = await new Deno.Command("tar", {
    args: ["xzf", tarball, "-C", dir],
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(untar.success);
  return await Deno.readFile(`${dir}/package/dist/hls.min.js`);
}
