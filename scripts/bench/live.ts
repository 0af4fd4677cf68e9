/**
 * Live fan-out through a cache: a live HLS stream (a ~2 KiB media playlist renewed every
 * segment, 2 MiB segments) watched by 64 connections through sProx with its cache on, nginx
 * with `proxy_cache` + `proxy_cache_lock` (the reference), and the bare Deno pass-through
 * (the floor, no cache). Measured per peer: req/s and p99 for the playlist and for the
 * newest segment, CPU per request, origin requests per object, and sProx's peak RSS.
 *
 *   deno run -A scripts/bench/live.ts [--quick]
 * @module
 */
import {
  freePort,
  type Peer,
  startLiveSprox,
  startNginx,
  startPlainFloor,
  waitForHttp,
} from "./_peers.ts";
import { type Figures, median, peerCpuMs, sampleRss, wrk } from "./_tools.ts";
import { cacheOutcomes } from "../../tests/_support/sprox.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Segment length (s): the playlist's target duration. */
const SEGMENT_SECS = 2;
const SEGMENT_BYTES = 2 * 1024 * 1024;
/** Segments the playlist lists (with their tokens, about 2 KiB). */
const WINDOW = 12;
/** sProx's cache bound in the bench: small enough that the RSS target means something. */
const CACHE_MAX_BYTES = 64 * 1024 * 1024;
const CONNECTIONS = 64;

/** A live stream written to disk: a new segment and playlist every `SEGMENT_SECS`. */
interface LiveWriter {
  /** The whole second (epoch seconds) segment 0 was written at; segment n at t0 + n·D. */
  readonly t0: number;
  readonly playlistBytes: number;
  stop(): Promise<void>;
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.tmp`;
  if (typeof data === "string") await Deno.writeTextFile(temporary, data);
  else await Deno.writeFile(temporary, data);
  await Deno.rename(temporary, path);
}

/** Starts writing the live stream into `dir` on whole-second boundaries. */
async function startLiveWriter(dir: string): Promise<LiveWriter> {
  await Deno.mkdir(dir, { recursive: true });
  const segment = new Uint8Array(SEGMENT_BYTES);
  for (let i = 0; i < segment.length; i++) segment[i] = (i * 31 + 7) & 0xff;
  const token = "0123456789abcdef".repeat(8);
  let playlistBytes = 0;
  const write = async (n: number) => {
    // Each segment's bytes differ (its number leads them), as live segments do.
    new DataView(segment.buffer).setUint32(0, n);
    await writeAtomically(`${dir}/seg_${n}.ts`, segment);
    const first = Math.max(0, n - WINDOW + 1);
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      `#EXT-X-TARGETDURATION:${SEGMENT_SECS}`,
      `#EXT-X-MEDIA-SEQUENCE:${first}`,
    ];
    for (let i = first; i <= n; i++) {
      lines.push(`#EXTINF:${SEGMENT_SECS}.000,`, `seg_${i}.ts?token=${token}`);
    }
    const text = lines.join("\n") + "\n";
    playlistBytes = Math.max(playlistBytes, text.length);
    await writeAtomically(`${dir}/live.m3u8`, text);
    // Segments well out of the window go, as a live origin's do: the disk use stays bounded.
    await Deno.remove(`${dir}/seg_${n - 2 * WINDOW}.ts`).catch(() => {});
  };
  // Back-fill a full window, so the playlist has its steady size from the start: segment n
  // counts as written at start + n·D, and the next one is due on a whole second.
  const start = Math.ceil(Date.now() / 1000) + 1 - WINDOW * SEGMENT_SECS;
  for (let n = 0; n < WINDOW; n++) await write(n);
  let next = WINDOW;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const due = (start + next * SEGMENT_SECS) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
      if (!stopped) await write(next++);
    }
  })();
  return {
    t0: start,
    get playlistBytes() {
      return playlistBytes;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** A Lua script for wrk: every request asks for the newest complete segment. */
async function newestSegmentScript(dir: string, t0: number): Promise<string> {
  const path = `${dir}/newest.lua`;
  await Deno.writeTextFile(
    path,
    `-- The newest segment written (segment n is written at t0 + n * ${SEGMENT_SECS} s).
request = function()
  local n = math.floor((os.time() - ${t0}) / ${SEGMENT_SECS}) - 1
  return wrk.format("GET", "/seg_" .. n .. ".ts")
end
`,
  );
  return path;
}

/** nginx origin: one server per peer (same files), each with its own access log. */
function startOrigin(dir: string, content: string, ports: Record<string, number>): Promise<Peer> {
  const servers = Object.entries(ports).map(([name, port]) =>
    `  server { listen 127.0.0.1:${port}; root ${content}; access_log ${dir}/origin-${name}.log counts; }`
  ).join("\n");
  return startNginx(dir, "live-origin", `  log_format counts '$uri $status';\n${servers}`);
}

/** nginx as a caching proxy: the configuration a CDN edge for live HLS would use. */
function startNginxCache(dir: string, originPort: number, port: number): Promise<Peer> {
  return startNginx(
    dir,
    "live-nginx-cache",
    `  proxy_cache_path ${dir}/live-nginx-cache levels=1:2 keys_zone=live:10m max_size=1g
    inactive=10m use_temp_path=off;
  upstream live_origin { server 127.0.0.1:${originPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_cache live;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 30s;
    proxy_cache_lock_age 30s;
    proxy_cache_revalidate on;
    proxy_cache_use_stale updating error timeout;
    proxy_cache_background_update on;
    # The same lifetimes sProx gives: half the target duration for the live playlist,
    # the segment default for segments.
    location ~ \\.m3u8$ { proxy_pass http://live_origin; proxy_cache_valid 200 ${
      SEGMENT_SECS / 2
    }s; }
    location / { proxy_pass http://live_origin; proxy_cache_valid 200 300s; }
  }`,
  );
}

/** Requests per path in an access log since byte `from`; returns them and the new end. */
async function originRequests(
  log: string,
  from: number,
): Promise<{ perPath: Map<string, number>; end: number }> {
  const bytes = await Deno.readFile(log).catch(() => new Uint8Array());
  const perPath = new Map<string, number>();
  for (const line of new TextDecoder().decode(bytes.subarray(from)).split("\n")) {
    const path = line.split(" ")[0];
    if (path) perPath.set(path, (perPath.get(path) ?? 0) + 1);
  }
  return { perPath, end: bytes.byteLength };
}

/** Runs the live fan-out benchmark and returns markdown lines. */
export async function runLiveBench(quick: boolean, dir?: string): Promise<string[]> {
  const base = dir ?? `${ROOT}var/bench/live-${Date.now()}`;
  const settings = quick ? { reps: 2, seconds: 6 } : { reps: 3, seconds: 12 };
  const content = `${base}/content`;
  const names = ["floor", "nginx-cache", "sprox", "sprox-cache"] as const;
  type Name = typeof names[number];
  const originPorts = Object.fromEntries(names.map((n) => [n, freePort()])) as Record<
    Name,
    number
  >;
  const ports = Object.fromEntries(names.map((n) => [n, freePort()])) as Record<Name, number>;
  const writer = await startLiveWriter(content);
  const peers: Peer[] = [];
  try {
    peers.push(await startOrigin(base, content, originPorts));
    const floor = startPlainFloor(base, "live-floor", originPorts.floor, ports.floor);
    const nginx = await startNginxCache(base, originPorts["nginx-cache"], ports["nginx-cache"]);
    const sprox = await startLiveSprox(`${base}/sprox`, originPorts.sprox, ports.sprox, {
      cache: false,
      maxBytes: CACHE_MAX_BYTES,
    });
    const caching = await startLiveSprox(
      `${base}/sprox-cache`,
      originPorts["sprox-cache"],
      ports["sprox-cache"],
      { cache: true, maxBytes: CACHE_MAX_BYTES },
    );
    peers.push(floor, nginx, sprox, caching);
    const pids: Record<Name, number> = {
      floor: floor.pid,
      "nginx-cache": nginx.pid,
      sprox: sprox.pid,
      "sprox-cache": caching.pid,
    };
    for (const name of names) await waitForHttp(`http://127.0.0.1:${ports[name]}/live.m3u8`);
    const script = await newestSegmentScript(base, writer.t0);

    const results = new Map<string, Figures[]>();
    const keep = (key: string, figures: Figures) =>
      results.set(key, [...(results.get(key) ?? []), figures]);
    const logEnds = Object.fromEntries(names.map((n) => [n, 0])) as Record<Name, number>;
    // Peak RSS (MiB) of each sProx peer, per phase.
    const peakRss: Record<string, number> = {};
    for (let rep = 1; rep <= settings.reps; rep++) {
      console.error(`bench live: repetition ${rep}/${settings.reps}`);
      for (const phase of ["playlist", "segment"] as const) {
        for (const name of names) {
          const log = `${base}/origin-${name}.log`;
          logEnds[name] = (await originRequests(log, logEnds[name])).end;
          const sampler = name.startsWith("sprox") ? sampleRss(pids[name]) : undefined;
          const cpuBefore = peerCpuMs(pids[name]);
          const url = `http://127.0.0.1:${ports[name]}/${phase === "playlist" ? "live.m3u8" : ""}`;
          const figures = await wrk(url, {
            connections: CONNECTIONS,
            seconds: settings.seconds,
            ...(phase === "segment" ? { script } : {}),
          });
          const cpu = peerCpuMs(pids[name]) - cpuBefore;
          if (sampler) {
            const key = `${name} ${phase}`;
            peakRss[key] = Math.max(peakRss[key] ?? 0, sampler.stop().max);
          }
          // nginx writes its access log as it answers; give it a moment.
          await new Promise((r) => setTimeout(r, 200));
          const seen = await originRequests(log, logEnds[name]);
          logEnds[name] = seen.end;
          const objects = [...seen.perPath].filter(([path]) =>
            phase === "playlist" ? path.endsWith(".m3u8") : path.endsWith(".ts")
          );
          const originTotal = objects.reduce((sum, [, n]) => sum + n, 0);
          // A segment is one object; the playlist is one object per version (per segment).
          const objectCount = phase === "playlist"
            ? settings.seconds / SEGMENT_SECS
            : objects.length;
          keep(`${phase}\u0000${name}`, {
            ...figures,
            cpu_us_per_request: (cpu * 1000) / figures.requests,
            origin_per_second: originTotal / settings.seconds,
            origin_per_object: objectCount === 0 ? NaN : originTotal / objectCount,
          });
        }
      }
    }

    const fmt = (n: number) =>
      Number.isNaN(n)
        ? "n/a"
        : n >= 100
        ? n.toFixed(0)
        : n >= 10
        ? n.toFixed(1)
        : n >= 0.01 || n === 0
        ? n.toFixed(2)
        : n.toPrecision(1);
    const outcomes = await cacheOutcomes(ports["sprox-cache"]);
    const metrics: [string, string][] = [
      ["rps", "req/s"],
      ["p99", "p99 ms"],
      ["mbps", "MB/s"],
      ["cpu_us_per_request", "CPU µs/request"],
      ["origin_per_object", "origin requests per object (playlist: per version)"],
      ["origin_per_second", "origin requests/s"],
      ["errors", "errors"],
    ];
    const lines = [
      `### Live fan-out through a cache (${
        quick ? "quick" : "full"
      }, ${settings.reps} interleaved repetitions, medians)`,
      "",
      `${CONNECTIONS} connections (wrk, ${settings.seconds} s per run); a live playlist of ${writer.playlistBytes} bytes ` +
      `renewed every ${SEGMENT_SECS} s (target duration ${SEGMENT_SECS}), ${
        SEGMENT_BYTES / 1048576
      } MiB segments; ` +
      `"segment" runs ask for the newest complete segment. nginx: \`proxy_cache\` + \`proxy_cache_lock\`, ` +
      `playlist valid ${
        SEGMENT_SECS / 2
      } s, segments 300 s; sprox-cache: \`cache.enabled\`, \`max_bytes\` ${
        CACHE_MAX_BYTES / 1048576
      } MiB; sprox and floor: pass-through, no cache.`,
      "",
      `| object | metric | ${
        names.join(" | ")
      } | sprox-cache/nginx-cache | sprox-cache/floor | sprox-cache/sprox |`,
      `| --- | --- | ${names.map(() => "---").join(" | ")} | --- | --- | --- |`,
    ];
    for (const phase of ["playlist", "segment"]) {
      for (const [metric, label] of metrics) {
        const values = Object.fromEntries(names.map((name) => [
          name,
          median((results.get(`${phase}\u0000${name}`) ?? []).map((f) => f[metric])),
        ])) as Record<Name, number>;
        const s = values["sprox-cache"];
        lines.push(
          `| ${phase} | ${label} | ${names.map((n) => fmt(values[n])).join(" | ")} | ${
            fmt(s / values["nginx-cache"])
          } | ${fmt(s / values.floor)} | ${fmt(s / values.sprox)} |`,
        );
      }
    }
    lines.push(
      "",
      `sprox-cache answers by cache outcome: ${
        Object.entries(outcomes).map(([o, n]) => `${o} ${n}`).join(", ")
      }.`,
      "",
      `Peak RSS, MiB (playlist runs / segment runs): sprox-cache ${
        fmt(peakRss["sprox-cache playlist"])
      } / ${fmt(peakRss["sprox-cache segment"])}, sprox ${fmt(peakRss["sprox playlist"])} / ${
        fmt(peakRss["sprox segment"])
      }; target for sprox-cache: ≤ the cache bound ${CACHE_MAX_BYTES / 1048576} MiB + 150 MiB = ${
        CACHE_MAX_BYTES / 1048576 + 150
      } MiB.`,
      "",
    );
    return lines;
  } finally {
    await writer.stop();
    for (const p of peers.reverse()) await p.stop();
  }
}

if (import.meta.main) {
  console.log((await runLiveBench(Deno.args.includes("--quick"))).join("\n"));
}
