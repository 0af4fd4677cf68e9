/**
 * Live test media: ffmpeg encoding a synthetic live stream in real time as HLS and/or DASH
 * into a directory, and a loopback origin serving that directory the way nginx serves
 * files (`ETag`, `Last-Modified`, `304` to conditionals, no `Cache-Control`) while
 * counting the requests it receives per path.
 * @module
 */
import { ENCODE as CONTENT_ENCODE } from "../../scripts/packagers/mod.ts";
import { requirePeer } from "./peers.ts";
import { exitWithin, withTimeout } from "./timeout.ts";

/** Segment length of the live outputs, in seconds (so the HLS target duration is 1). */
export const LIVE_SEGMENT_SECS = 1;

/** Where the encoder writes each output, relative to its directory. */
export const LIVE_PATHS = { hls: "hls/live.m3u8", dash: "dash/live.mpd" } as const;

/** A running live encoder. */
export interface LiveEncoder {
  readonly pid: number;
  /** Resolves once every output lists at least `segments` segments. */
  ready(segments: number, timeoutMs?: number): Promise<void>;
  /** Kills the encoder (by its PID) and waits for it to exit. */
  stop(): Promise<void>;
}

// The test content's encoder settings (one keyframe per 1 s segment), tuned for live.
const ENCODE = ["-map", "0:v", "-map", "1:a", ...CONTENT_ENCODE, "-tune", "zerolatency"];

/**
 * Starts ffmpeg (`-re`, so in real time) writing a 320x180 25 fps test pattern with a sine
 * tone, as a live HLS playlist (`hls/live.m3u8`, 1 s segments, a 6-segment window) and/or
 * a live DASH MPD (`dash/live.mpd`, 1 s segments): with a `SegmentTimeline` rewritten at
 * every segment (`"timeline"`, a 6-segment window), or a `$Number$` template whose segments
 * follow the wall clock (`"number"`: only its `publishTime` changes, and ffmpeg announces
 * `minimumUpdatePeriod="PT500S"`). Old segments stay on disk for the run, so what clients
 * received can be compared with the files byte for byte at the end.
 *
 * @example
 * ```ts
 * const encoder = await startLiveEncoder(dir, { hls: true, dash: "timeline" });
 * await encoder.ready(3);
 * ```
 */
export async function startLiveEncoder(
  dir: string,
  outputs: { hls?: boolean; dash?: "timeline" | "number" },
): Promise<LiveEncoder> {
  const args = [
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=320x180:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000",
  ];
  if (outputs.hls) {
    await Deno.mkdir(`${dir}/hls`, { recursive: true });
    args.push(
      ...ENCODE,
      "-f",
      "hls",
      "-hls_time",
      String(LIVE_SEGMENT_SECS),
      "-hls_list_size",
      "6",
      "-hls_segment_filename",
      `${dir}/hls/seg_%05d.ts`,
      `${dir}/${LIVE_PATHS.hls}`,
    );
  }
  if (outputs.dash) {
    await Deno.mkdir(`${dir}/dash`, { recursive: true });
    args.push(
      ...ENCODE,
      "-f",
      "dash",
      "-seg_duration",
      String(LIVE_SEGMENT_SECS),
      "-use_timeline",
      outputs.dash === "timeline" ? "1" : "0",
      "-window_size",
      "6",
      // Segments that left the window are deleted past this many; a run is shorter.
      "-extra_window_size",
      "100",
      "-streaming",
      "0",
      "-remove_at_exit",
      "0",
      `${dir}/${LIVE_PATHS.dash}`,
    );
  }
  const child = new Deno.Command(await requirePeer("ffmpeg"), {
    args,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let errors = "";
  const draining = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errors += chunk;
  })();
  let exited = false;
  child.status.then(() => exited = true);
  const entries: string[] = [];
  if (outputs.hls) entries.push(LIVE_PATHS.hls);
  if (outputs.dash) entries.push(LIVE_PATHS.dash);
  return {
    pid: child.pid,
    async ready(segments, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (const entry of entries) {
        while (await writtenSegments(`${dir}/${entry}`) < segments) {
          if (exited) throw new Error(`ffmpeg exited: ${errors}`);
          if (Date.now() > end) {
            throw new Error(`timed out after ${timeoutMs} ms: ${entry} to list ${segments}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await exitWithin(child, 10_000, "ffmpeg");
      await withTimeout(draining, 10_000, "ffmpeg's stderr to close");
    },
  };
}

/**
 * Segments written for a playlist or MPD on disk: those an HLS playlist lists, or for an
 * MPD the complete media segments of its least advanced stream (ffmpeg renames a DASH
 * segment into place when it is complete). 0 while the manifest does not exist yet.
 */
async function writtenSegments(path: string): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return 0;
  }
  if (path.endsWith(".m3u8")) return text.match(/^#EXTINF:/gm)?.length ?? 0;
  const perStream = new Map<string, number>();
  for await (const file of Deno.readDir(path.slice(0, path.lastIndexOf("/")))) {
    const stream = /^chunk-stream(\d+)-\d+\.m4s$/.exec(file.name)?.[1];
    if (stream !== undefined) perStream.set(stream, (perStream.get(stream) ?? 0) + 1);
  }
  return perStream.size === 0 ? 0 : Math.min(...perStream.values());
}

const TYPES: Record<string, string> = {
  m3u8: "application/vnd.apple.mpegurl",
  mpd: "application/dash+xml",
  ts: "video/mp2t",
  m4s: "video/iso.segment",
};

/** A running live origin. */
export interface LiveOrigin {
  readonly url: string;
  /** Requests received per path (`304`s included). */
  readonly counts: Map<string, number>;
  close(): Promise<void>;
}

/**
 * Serves the files under `root` on 127.0.0.1 as nginx does: the type by extension, a
 * strong `ETag` from the modification time (ms) and size, `Last-Modified`, `304` to a matching
 * `If-None-Match` (or, without one, an `If-Modified-Since` not older than the file), and no
 * `Cache-Control`. Its clock runs a second behind the test's: a `Date` off by a second or
 * two is common (hosts without tight NTP; servers that refresh a cached `Date` once a second,
 * as `Deno.serve` does), and a lifetime sProx gives an object must not end on arrival
 * because of it. Counts every request per path.
 *
 * @example
 * ```ts
 * const origin = startLiveOrigin(dir);
 * await fetch(`${origin.url}/hls/live.m3u8`);
 * origin.counts.get("/hls/live.m3u8"); // 1
 * ```
 */
export function startLiveOrigin(root: string): LiveOrigin {
  const counts = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (path.includes("..") || req.method !== "GET") {
      return new Response("not found\n", { status: 404 });
    }
    let bytes: Uint8Array<ArrayBuffer>;
    let modified: Date;
    try {
      // One open file for both: ffmpeg replaces manifests by renaming, and the validators
      // must describe the bytes sent.
      using file = await Deno.open(`${root}${decodeURIComponent(path)}`);
      const info = await file.stat();
      modified = info.mtime ?? new Date(0);
      bytes = new Uint8Array(info.size);
      for (let at = 0; at < bytes.byteLength;) {
        const n = await file.read(bytes.subarray(at));
        if (n === null) throw new Error("file shrank while read");
        at += n;
      }
    } catch {
      return new Response("not found\n", { status: 404 });
    }
    // nginx's ETag is seconds-size; milliseconds keep two writes within a second apart.
    const etag = `"${modified.getTime().toString(16)}-${bytes.byteLength.toString(16)}"`;
    const headers = new Headers({
      "content-type": TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream",
      etag,
      "last-modified": modified.toUTCString(),
      date: new Date(Date.now() - 1000).toUTCString(),
    });
    const ifNoneMatch = req.headers.get("if-none-match");
    const ifModifiedSince = Date.parse(req.headers.get("if-modified-since") ?? "");
    const notModified = ifNoneMatch !== null
      ? ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)
      : ifModifiedSince >= Math.floor(modified.getTime() / 1000) * 1000;
    if (notModified) return new Response(null, { status: 304, headers });
    return new Response(bytes, { headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    counts,
    close: () => withTimeout(server.shutdown(), 10_000, "the live origin to shut down"),
  };
}
