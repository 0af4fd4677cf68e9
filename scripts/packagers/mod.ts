/**
 * Test content packagers: short synthetic audio/video packaged by ffmpeg as HLS (TS,
 * fMP4, AES-128) and DASH (SegmentTemplate `$Number$`, SegmentTimeline). Used by the
 * manifest tests and runnable by hand:
 *
 *   deno run -A scripts/packagers/mod.ts <kind> <dir> [seconds]
 * @module
 */

/** The kinds of content the packagers produce. */
export type PackageKind = "hls-ts" | "hls-fmp4" | "hls-aes" | "dash-number" | "dash-timeline";

/** What a packager wrote: the entry manifest's path relative to the output directory. */
export interface PackagedContent {
  readonly kind: PackageKind;
  readonly dir: string;
  readonly entry: string;
  readonly seconds: number;
}

/**
 * The encoder settings of all test content: H.264 (one keyframe per second at 25 fps, so every
 * 1 s segment starts with one) and AAC.
 */
export const ENCODE: readonly string[] = [
  "-c:v",
  "libx264",
  "-preset",
  "ultrafast",
  "-pix_fmt",
  "yuv420p",
  "-g",
  "25",
  "-keyint_min",
  "25",
  "-sc_threshold",
  "0",
  "-c:a",
  "aac",
  "-b:a",
  "64k",
];

const SOURCE = (seconds: number) => [
  "-f",
  "lavfi",
  "-i",
  "testsrc2=size=320x180:rate=25",
  "-f",
  "lavfi",
  "-i",
  "sine=frequency=440:sample_rate=48000",
  "-t",
  String(seconds),
  ...ENCODE,
];

async function ffmpeg(dir: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-v", "error", "-y", ...args],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`ffmpeg failed: ${new TextDecoder().decode(stderr)}`);
}

const HLS = (seconds: number) => [
  ...SOURCE(seconds),
  "-f",
  "hls",
  "-hls_time",
  "1",
  "-hls_playlist_type",
  "vod",
  "-master_pl_name",
  "master.m3u8",
];

/**
 * Packages `seconds` of synthetic content of `kind` into `dir` (created if missing).
 *
 * @example
 * ```ts
 * const content = await packageContent("hls-fmp4", "/tmp/hls", 3);
 * ```
 */
export async function packageContent(
  kind: PackageKind,
  dir: string,
  seconds = 3,
): Promise<PackagedContent> {
  await Deno.mkdir(dir, { recursive: true });
  switch (kind) {
    case "hls-ts":
      await ffmpeg(dir, [...HLS(seconds), "-hls_segment_filename", "seg%03d.ts", "index.m3u8"]);
      return { kind, dir, entry: "master.m3u8", seconds };
    case "hls-fmp4":
      await ffmpeg(dir, [
        ...HLS(seconds),
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        "seg%03d.m4s",
        "index.m3u8",
      ]);
      return { kind, dir, entry: "master.m3u8", seconds };
    case "hls-aes": {
      const key = crypto.getRandomValues(new Uint8Array(16));
      await Deno.writeFile(`${dir}/enc.key`, key);
      const iv = [...crypto.getRandomValues(new Uint8Array(16))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      await Deno.writeTextFile(`${dir}/keyinfo`, `keys/enc.key\n${dir}/enc.key\n${iv}\n`);
      await Deno.mkdir(`${dir}/keys`, { recursive: true });
      await Deno.writeFile(`${dir}/keys/enc.key`, key);
      await ffmpeg(dir, [
        ...HLS(seconds),
        "-hls_key_info_file",
        "keyinfo",
        "-hls_segment_filename",
        "seg%03d.ts",
        "index.m3u8",
      ]);
      return { kind, dir, entry: "master.m3u8", seconds };
    }
    case "dash-number":
    case "dash-timeline":
      // $Time$ is left to the hand-written fixtures: ffmpeg 5.1 names audio segments by
      // their pre-roll-shifted time, which disagrees with the SegmentTimeline it writes.
      await ffmpeg(dir, [
        ...SOURCE(seconds),
        "-f",
        "dash",
        "-seg_duration",
        "1",
        "-use_template",
        "1",
        "-use_timeline",
        kind === "dash-timeline" ? "1" : "0",
        "-init_seg_name",
        "init-$RepresentationID$.m4s",
        "-media_seg_name",
        "chunk-$RepresentationID$-$Number%05d$.m4s",
        "manifest.mpd",
      ]);
      return { kind, dir, entry: "manifest.mpd", seconds };
  }
}

if (import.meta.main) {
  const [kind, dir, seconds] = Deno.args;
  if (!kind || !dir) {
    console.error("usage: deno run -A scripts/packagers/mod.ts <kind> <dir> [seconds]");
    Deno.exit(2);
  }
  const content = await packageContent(kind as PackageKind, dir, Number(seconds ?? 3));
  console.log(`${content.dir}/${content.entry}`);
}
