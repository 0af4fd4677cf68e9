/**
 * A loopback media origin for tests: serves a directory with streaming content types,
 * byte ranges, and gzip for manifests when the client accepts it.
 * @module
 */
import { Parser } from "m3u8-parser";
import { gzipSync } from "node:zlib";
import { withTimeout } from "./timeout.ts";

const TYPES: Record<string, string> = {
  m3u8: "application/vnd.apple.mpegurl",
  mpd: "application/dash+xml",
  ts: "video/mp2t",
  m4s: "video/iso.segment",
  mp4: "video/mp4",
  key: "application/octet-stream",
  vtt: "text/vtt",
};

/** A running origin. */
export interface MediaOrigin {
  readonly url: string;
  /** Request paths seen, in order. */
  readonly requests: string[];
  /** The `Referer` of each request, in the same order. */
  readonly referers: (string | null)[];
  close(): Promise<void>;
}

/**
 * Serves `root` on 127.0.0.1 under `/content/`.
 *
 * @example
 * ```ts
 * const origin = startMediaOrigin(dir);
 * await fetch(`${origin.url}/content/hls/master.m3u8`);
 * ```
 */
export function startMediaOrigin(root: string): MediaOrigin {
  const requests: string[] = [];
  const referers: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    requests.push(url.pathname + url.search);
    referers.push(req.headers.get("referer"));
    if (!url.pathname.startsWith("/content/") || url.pathname.includes("..")) {
      return new Response("not found", { status: 404 });
    }
    const path = `${root}/${decodeURIComponent(url.pathname.slice("/content/".length))}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch {
      return new Response("not found", { status: 404 });
    }
    const ext = path.slice(path.lastIndexOf(".") + 1);
    const headers = new Headers({
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "accept-ranges": "bytes",
    });
    // `?whole`: an origin that ignores `Range` and answers the whole file.
    const range = url.searchParams.has("whole")
      ? null
      : /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : bytes.length - 1, bytes.length - 1);
      headers.set("content-range", `bytes ${start}-${end}/${bytes.length}`);
      return new Response(bytes.slice(start, end + 1), { status: 206, headers });
    }
    if (
      (ext === "m3u8" || ext === "mpd") && /gzip/.test(req.headers.get("accept-encoding") ?? "")
    ) {
      headers.set("content-encoding", "gzip");
      return new Response(new Uint8Array(gzipSync(bytes)), { headers });
    }
    return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    referers,
    close: () => withTimeout(server.shutdown(), 10_000, "the media origin to shut down"),
  };
}

/** What ffprobe and a full ffmpeg decode report for a URL. */
export interface PlaybackReport {
  readonly streams: string[];
  readonly probedSeconds: number;
  /** Seconds actually decoded by ffmpeg reading the whole stream. */
  readonly decodedSeconds: number;
  /** ffmpeg's error output (empty when the read was clean). */
  readonly errors: string;
  readonly exitCode: number;
}

/**
 * Probes `url` with ffprobe and reads it whole with ffmpeg (decoding to the null muxer). Each
 * run is killed after `timeoutMs` (its exit code then says so), so a stalled stream fails.
 *
 * @example
 * ```ts
 * const report = await playWithFfmpeg("http://127.0.0.1:8080/hls/master.m3u8");
 * ```
 */
export async function playWithFfmpeg(url: string, timeoutMs = 60_000): Promise<PlaybackReport> {
  const probe = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json", url],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const info = JSON.parse(new TextDecoder().decode(probe.stdout) || "{}");
  const play = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", url, "-map", "0", "-f", "null", "-progress", "pipe:1", "-"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const progress = new TextDecoder().decode(play.stdout);
  const times = [...progress.matchAll(/out_time_us=(\d+)/g)].map((m) => Number(m[1]));
  return {
    streams: (info.streams ?? []).map((s: { codec_type: string }) => s.codec_type).sort(),
    probedSeconds: Number(info.format?.duration ?? NaN),
    decodedSeconds: (times.at(-1) ?? 0) / 1e6,
    errors: new TextDecoder().decode(probe.stderr) + new TextDecoder().decode(play.stderr),
    exitCode: play.code,
  };
}

/**
 * Every URI a playlist references, as m3u8-parser reads it: variant playlists, segments,
 * keys, init sections and media-group renditions.
 */
export function playlistUris(text: string): string[] {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  const m = parser.manifest;
  const found: string[] = (m.playlists ?? []).map((p: { uri: string }) => p.uri);
  for (const s of m.segments ?? []) {
    found.push(s.uri);
    if (s.key?.uri) found.push(s.key.uri);
    if (s.map?.uri) found.push(s.map.uri);
  }
  for (
    const groups of Object.values(m.mediaGroups ?? {}) as Record<
      string,
      Record<string, { uri?: string }>
    >[]
  ) {
    for (const group of Object.values(groups)) {
      for (const r of Object.values(group)) if (r.uri) found.push(r.uri);
    }
  }
  return found;
}
