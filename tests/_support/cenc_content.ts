/**
 * Encrypted test content: ffmpeg packages clear DASH and fMP4 HLS, the CENC packager of
 * `scripts/packagers/cenc.ts` encrypts each as `cenc` and `cbcs` with one key.
 * @module
 */
import { packageContent } from "../../scripts/packagers/mod.ts";
import { encryptPackage } from "../../scripts/packagers/cenc.ts";

/** The key ID and key the content is encrypted with (hex). */
export const CENC_KID = "7f2b1c3d4e5f60718293a4b5c6d7e8f9";
export const CENC_KEY = "3c1a9e7b5d2f40618c9ab7e6d5f4c3b2";

const hex = (text: string) => Uint8Array.from(text.match(/../g)!, (h) => parseInt(h, 16));

/**
 * Writes `dash/`, `hls/` (clear) and `dash-cenc/`, `dash-cbcs/`, `hls-cenc/`, `hls-cbcs/`
 * under `dir`, each `seconds` long.
 *
 * @example
 * ```ts
 * await packageEncryptedContent(dir, 3); // dir/dash-cbcs/manifest.mpd, dir/hls-cenc/master.m3u8, …
 * ```
 */
export async function packageEncryptedContent(dir: string, seconds: number): Promise<void> {
  await packageContent("dash-number", `${dir}/dash`, seconds);
  await packageContent("hls-fmp4", `${dir}/hls`, seconds);
  for (const scheme of ["cenc", "cbcs"] as const) {
    const options = { scheme, key: hex(CENC_KEY), kid: hex(CENC_KID) };
    await encryptPackage(`${dir}/dash`, `${dir}/dash-${scheme}`, options);
    await encryptPackage(`${dir}/hls`, `${dir}/hls-${scheme}`, options);
  }
}
