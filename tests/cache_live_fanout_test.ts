/**
 * Live fan-out through the cache: ffmpeg encodes a live HLS and a live DASH stream in real
 * time, an nginx-like loopback origin serves them (validators, no `Cache-Control`, so the
 * live-playlist rule and the default TTLs decide freshness), and player-like clients watch
 * every form through sProx at once: route HLS (rewritten), route DASH→HLS, direct HLS and
 * direct DASH→HLS. Every client must get every segment of the playlists it saw, byte for
 * byte, while the origin sees each segment about once and each playlist about once per half
 * target duration — not once per viewer.
 */
import assert from "node:assert/strict";
import { playlistUris } from "./_support/media_origin.ts";
import {
  LIVE_PATHS,
  LIVE_SEGMENT_SECS,
  type LiveOrigin,
  startLiveEncoder,
  startLiveOrigin,
} from "./_support/live_media.ts";
import {
  cacheOutcomes,
  deadline,
  freePort,
  scratchDir,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";

/** Viewers per form (four forms watch at once). */
const CLIENTS = 50;
const WATCH_MS = 15_000;
/** Players reload a live playlist about every half target duration when it did not change. */
const POLL_MS = (LIVE_SEGMENT_SECS * 1000) / 2;
/** A player starts this many segments behind the live edge. */
const START_BEHIND = 3;

/** One way of watching: an entry URL through sProx, and the origin behind it. */
interface Form {
  readonly name: string;
  readonly entry: string;
  /** A multivariant playlist whose media playlists are polled (DASH→HLS), or a media one. */
  readonly multivariant: boolean;
  readonly origin: LiveOrigin;
  /** The origin path a segment URL from a playlist stands for. */
  originPath(url: URL): string;
}

/** What one client saw. */
interface ClientReport {
  readonly failures: string[];
  /** Origin path → SHA-256 of the bytes received. */
  readonly segments: Map<string, string>;
  /** Media sequence numbers received, per media playlist. */
  readonly sequences: number[][];
  polls: number;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The media sequence, segment URIs (in order) and `EXT-X-MAP` URI of a media playlist. */
function readMediaPlaylist(text: string): { sequence: number; uris: string[]; map?: string } {
  const lines = text.split("\n").map((l) => l.trim());
  const sequence = Number(
    lines.find((l) => l.startsWith("#EXT-X-MEDIA-SEQUENCE:"))?.split(":")[1] ?? 0,
  );
  const map = /^#EXT-X-MAP:.*URI="([^"]+)"/.exec(
    lines.find((l) => l.startsWith("#EXT-X-MAP:")) ?? "",
  )?.[1];
  return { sequence, uris: lines.filter((l) => l !== "" && !l.startsWith("#")), map };
}

/**
 * One viewer: loads the entry, then polls each media playlist every `POLL_MS` until `until`,
 * fetching each new segment once, in order, as a player does. A segment that appears after a
 * gap (a sequence number skipped between two reloads) is a failure.
 */
async function watch(form: Form, until: number): Promise<ClientReport> {
  const report: ClientReport = { failures: [], segments: new Map(), sequences: [], polls: 0 };
  const get = async (url: URL): Promise<Uint8Array<ArrayBuffer> | null> => {
    try {
      const response = await fetch(url, { signal: deadline() });
      const body = new Uint8Array(await response.arrayBuffer());
      if (response.status === 200) return body;
      report.failures.push(`${form.name}: ${response.status} for ${url.pathname}${url.search}`);
    } catch (error) {
      report.failures.push(`${form.name}: ${url.pathname}${url.search}: ${error}`);
    }
    return null;
  };
  const segment = async (url: URL) => {
    const bytes = await get(url);
    if (bytes) report.segments.set(form.originPath(url), await sha256(bytes));
  };
  const poll = async (playlist: URL) => {
    const received: number[] = [];
    report.sequences.push(received);
    let map: string | undefined;
    while (Date.now() < until) {
      const started = Date.now();
      const bytes = await get(playlist);
      report.polls++;
      if (bytes) {
        const media = readMediaPlaylist(new TextDecoder().decode(bytes));
        if (media.map && media.map !== map) {
          map = media.map;
          await segment(new URL(media.map, playlist));
        }
        const last = received.at(-1);
        let first = last === undefined
          ? Math.max(0, media.uris.length - START_BEHIND)
          : last + 1 - media.sequence;
        if (first < 0) first = 0;
        if (last !== undefined && media.sequence > last + 1) {
          report.failures.push(
            `${form.name}: ${playlist.pathname} jumped from ${last} to ${media.sequence}`,
          );
        }
        for (let i = first; i < media.uris.length; i++) {
          await segment(new URL(media.uris[i], playlist));
          received.push(media.sequence + i);
        }
      }
      await new Promise((r) => setTimeout(r, Math.max(0, started + POLL_MS - Date.now())));
    }
  };
  const entry = new URL(form.entry);
  if (!form.multivariant) {
    await poll(entry);
    return report;
  }
  const master = await get(entry);
  if (master) {
    const uris = playlistUris(new TextDecoder().decode(master));
    await Promise.all(uris.map((uri) => poll(new URL(uri, entry))));
  }
  return report;
}

/**
 * Asserts what viewers got: no request failed, every segment is byte for byte the file
 * ffmpeg wrote (old segments stay on disk), and every media playlist kept playing, about
 * one new segment per second of `watchMs`.
 */
async function assertWatchedWhole(
  results: { form: Form; report: ClientReport }[],
  dir: string,
  watchMs: number,
): Promise<void> {
  const failures = results.flatMap((r) => r.report.failures);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed requests`);
  const onDisk = new Map<string, string>();
  for (const { form, report } of results) {
    for (const [path, hash] of report.segments) {
      if (!onDisk.has(path)) onDisk.set(path, await sha256(await Deno.readFile(dir + path)));
      assert.equal(hash, onDisk.get(path), `${form.name}: ${path} differs from the origin file`);
    }
    for (const received of report.sequences) {
      assert.ok(
        received.length >= watchMs / 1000 / LIVE_SEGMENT_SECS - 4,
        `${form.name}: only ${received.length} segments in ${watchMs} ms: ${received}`,
      );
    }
  }
}

function isManifest(path: string): boolean {
  return path.endsWith(".m3u8") || path.endsWith(".mpd");
}

Deno.test({
  name: "live fan-out: viewers through sProx get every segment, the origin sees each about once",
  async fn() {
    const dir = await scratchDir();
    const encoder = await startLiveEncoder(dir, { hls: true, dash: "timeline" });
    // One origin per mode: each mode has its own cache keys, so each is counted alone.
    const routeOrigin = startLiveOrigin(dir);
    const directOrigin = startLiveOrigin(dir);
    let sprox: Awaited<ReturnType<typeof startSprox>> | undefined;
    try {
      const port = freePort();
      sprox = await startSprox(`
routes:
  - id: live
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${routeOrigin.url}" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "http://127.0.0.1:${port}/"
      allow_insecure_segments: true
    dash: { to_hls: true }
    cache: { enabled: true }
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
  cache: { enabled: true }
rate_limit: { enabled: false }
telemetry: { enabled: true, log_level: info }
server: { limits: { max_connections_per_ip: 4096 } }
`);
      await encoder.ready(START_BEHIND);
      const proxy = `http://127.0.0.1:${port}`;
      const routePath = (url: URL) => url.pathname;
      const directPath = (url: URL) =>
        url.pathname.startsWith("/proxy/stream")
          ? new URL(url.searchParams.get("d") ?? "").pathname
          : url.pathname;
      const d = (path: string) => encodeURIComponent(`${directOrigin.url}/${path}`);
      const forms: Form[] = [
        {
          name: "route HLS",
          entry: `${proxy}/${LIVE_PATHS.hls}`,
          multivariant: false,
          origin: routeOrigin,
          originPath: routePath,
        },
        {
          name: "route DASH→HLS",
          entry: `${proxy}/${LIVE_PATHS.dash}/master.m3u8`,
          multivariant: true,
          origin: routeOrigin,
          originPath: routePath,
        },
        {
          name: "direct HLS",
          entry: `${proxy}/proxy/hls/manifest.m3u8?d=${d(LIVE_PATHS.hls)}`,
          multivariant: false,
          origin: directOrigin,
          originPath: directPath,
        },
        {
          name: "direct DASH→HLS",
          entry: `${proxy}/proxy/mpd/manifest.m3u8?d=${d(LIVE_PATHS.dash)}`,
          multivariant: true,
          origin: directOrigin,
          originPath: directPath,
        },
      ];
      // A playlist's lifetime (half the target duration) runs from when sProx got or made
      // it, whatever the origin's clock says: asked again at once, it is a fresh hit.
      for (const form of forms.filter((f) => !f.multivariant)) {
        const outcomes: unknown[] = [];
        for (let i = 0; i < 2; i++) {
          const response = await fetch(form.entry, { signal: deadline() });
          await response.body?.cancel();
          assert.equal(response.status, 200, form.name);
          const id = response.headers.get("x-request-id");
          const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === id);
          outcomes.push(line.cache);
        }
        assert.deepEqual(outcomes, ["miss", "hit"], `${form.name}: asked twice at once`);
      }
      const started = Date.now();
      const until = started + WATCH_MS;
      const runs = forms.flatMap((form) =>
        Array.from({ length: CLIENTS }, async (_, i) => {
          // Viewers join spread over one reload interval, as an audience does.
          await new Promise((r) => setTimeout(r, (i * POLL_MS) / CLIENTS));
          return { form, report: await watch(form, until) };
        })
      );
      const results = await withTimeout(
        Promise.all(runs),
        WATCH_MS + 20_000,
        "the viewers to finish",
      );
      const elapsedMs = Date.now() - started;
      await encoder.stop();

      await assertWatchedWhole(results, dir, WATCH_MS);

      // What the origins saw, printed before the assertions on it so a failure shows it.
      const polls = results.reduce((sum, r) => sum + r.report.polls, 0);
      const outcomes = await cacheOutcomes(port);
      const modes = [["route", routeOrigin], ["direct", directOrigin]] as const;
      const received = (origin: LiveOrigin) =>
        new Set(
          results.filter((r) => r.form.origin === origin).flatMap((r) => [
            ...r.report.segments.keys(),
          ]),
        );
      console.log(
        `${forms.length} forms × ${CLIENTS} viewers, ${elapsedMs} ms, ${polls} playlist polls`,
      );
      for (const [mode, origin] of modes) {
        const perSegment = Object.groupBy(
          [...origin.counts].filter(([path]) => !isManifest(path)),
          ([, count]) => String(count),
        );
        console.log(
          `${mode}: ${received(origin).size} segments received; origin requests per segment ${
            Object.entries(perSegment).map(([count, paths]) => `${paths?.length}×${count}`)
              .join(", ")
          }; ${
            Object.entries(LIVE_PATHS).map(([kind, path]) =>
              `${kind} manifest ${origin.counts.get(`/${path}`) ?? 0}`
            ).join(", ")
          }`,
        );
      }
      console.log(`cache outcomes: ${JSON.stringify(outcomes)}`);

      // Each segment a viewer received was fetched from the origin once, at most twice.
      for (const [mode, origin] of modes) {
        for (const path of received(origin)) {
          const count = origin.counts.get(path) ?? 0;
          assert.ok(count >= 1 && count <= 2, `${mode}: ${path} fetched ${count} times`);
        }
      }
      // Playlists: about one origin request per half target duration and generated
      // playlist, never one per viewer. Route mode converts one cached MPD into all its
      // playlists; direct mode fetches the source for each generated playlist it renews
      // (two media playlists, video and audio, and the multivariant one once or twice).
      const perPlaylist = Math.ceil(elapsedMs / POLL_MS) + 3;
      const bounds = [
        ["route", routeOrigin, LIVE_PATHS.hls, perPlaylist],
        ["route", routeOrigin, LIVE_PATHS.dash, perPlaylist],
        ["direct", directOrigin, LIVE_PATHS.hls, perPlaylist],
        ["direct", directOrigin, LIVE_PATHS.dash, 2 * perPlaylist + 2],
      ] as const;
      for (const [mode, origin, path, bound] of bounds) {
        const count = origin.counts.get(`/${path}`) ?? 0;
        assert.ok(
          count >= 1 && count <= bound,
          `${mode}: ${path}: ${count} origin requests, expected 1 to ${bound}`,
        );
      }
      // Everything here is cacheable: answers come from memory but for one exchange per
      // object and version.
      const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
      const fromMemory = (outcomes.hit ?? 0) + (outcomes.coalesced ?? 0) +
        (outcomes.stale ?? 0) + (outcomes.revalidated ?? 0);
      assert.deepEqual(
        Object.keys(outcomes).filter((o) =>
          !["hit", "coalesced", "stale", "revalidated", "miss"].includes(o)
        ),
        [],
        JSON.stringify(outcomes),
      );
      assert.ok(fromMemory >= 0.95 * total, `only ${fromMemory} of ${total} from memory`);
      // The request log line names the same outcome for every request the cache answered.
      const logged = () => {
        const tally: Record<string, number> = {};
        for (const line of sprox!.logs) {
          if (line.msg === "request" && typeof line.cache === "string") {
            tally[line.cache] = (tally[line.cache] ?? 0) + 1;
          }
        }
        return tally;
      };
      for (let i = 0; i < 50 && Object.values(logged()).reduce((a, b) => a + b, 0) < total; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(logged(), outcomes);
    } finally {
      await encoder.stop();
      await sprox?.stop();
      await routeOrigin.close();
      await directOrigin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** How long the viewers of an unchanging MPD watch. */
const EVENT_WATCH_MS = 8_000;

Deno.test({
  name: "live fan-out: an MPD that never changes still gives advancing DASH→HLS playlists",
  async fn() {
    // A `$Number$` MPD is published once for a whole event: its segments follow the wall
    // clock while its bytes and validators stay the same, so the origin answers every
    // revalidation with 304. The playlists converted from it must still move on.
    const dir = await scratchDir();
    const encoder = await startLiveEncoder(dir, { dash: "number" });
    const origin = startLiveOrigin(dir);
    let sprox: Awaited<ReturnType<typeof startSprox>> | undefined;
    try {
      const port = freePort();
      sprox = await startSprox(`
routes:
  - id: live
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
    dash: { to_hls: true }
    cache: { enabled: true }
rate_limit: { enabled: false }
`);
      await encoder.ready(START_BEHIND);
      await Deno.copyFile(`${dir}/${LIVE_PATHS.dash}`, `${dir}/dash/event.mpd`);
      const form: Form = {
        name: "route DASH→HLS, unchanging MPD",
        entry: `http://127.0.0.1:${port}/dash/event.mpd/master.m3u8`,
        multivariant: true,
        origin,
        originPath: (url) => url.pathname,
      };
      const started = Date.now();
      const until = started + EVENT_WATCH_MS;
      const results = await withTimeout(
        Promise.all(
          Array.from({ length: 10 }, async () => ({ form, report: await watch(form, until) })),
        ),
        EVENT_WATCH_MS + 20_000,
        "the viewers to finish",
      );
      const elapsedMs = Date.now() - started;
      await encoder.stop();
      const mpdRequests = origin.counts.get("/dash/event.mpd") ?? 0;
      console.log(`${elapsedMs} ms; origin requests for the MPD: ${mpdRequests}`);
      await assertWatchedWhole(results, dir, EVENT_WATCH_MS);
      assert.ok(mpdRequests >= 1 && mpdRequests <= Math.ceil(elapsedMs / POLL_MS) + 3);
    } finally {
      await encoder.stop();
      await sprox?.stop();
      await origin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
