/**
 * CPU profile of sProx under load: starts sProx with the V8 inspector on loopback, an
 * nginx origin, drives wrk at one URL shape, records a profile over the Chrome DevTools
 * protocol and prints the functions with the most self time. The raw `.cpuprofile` is
 * written next to the report (open it in Chrome DevTools).
 *
 * Usage: deno run -A scripts/bench/profile.ts [--path /small.m3u8] [--direct | --direct-hls] [--cache]
 *        [--hls] [--seconds 8] [--connections 32]
 *
 * `--cache` turns the cache on for the route and direct mode: after the warm-up request the
 * profile is that of cache hits. `--hls` turns HLS playlist rewriting on for the route.
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, type Peer, startNginxOrigin, waitForHttp, writeContent } from "./_peers.ts";
import { wrk } from "./_tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    path: { type: "string", default: "/small.m3u8" },
    direct: { type: "boolean", default: false },
    "direct-hls": { type: "boolean", default: false },
    cache: { type: "boolean", default: false },
    hls: { type: "boolean", default: false },
    seconds: { type: "string", default: "8" },
    connections: { type: "string", default: "32" },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

async function inspectorProfile(port: number, during: () => Promise<void>): Promise<Profile> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  await during();
  const result = await send("Profiler.stop") as { profile: Profile };
  ws.close();
  return result.profile;
}

const dir = `${ROOT}var/bench/profile-${Date.now()}`;
await writeContent(`${dir}/content`, 16 * 1024 * 1024);
const origin = freePort();
const port = freePort();
const inspect = freePort();
const peers: Peer[] = [await startNginxOrigin(dir, `${dir}/content`, origin)];
await Deno.writeTextFile(
  `${dir}/routes.yaml`,
  `routes:
  - id: profile
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${origin}" }
    hls: ${
    values.hls
      ? `{ enabled: true, rewrite_playlist_urls: true, base_url: "https://sprox.example" }`
      : "{ enabled: false }"
  }
direct_stream:
  allow_private_networks: true
  allowlist: [{ domain: "127.0.0.1", schemes: ["http"] }]
rate_limit: { enabled: false }
cache: { enabled: ${values.cache} }
`,
);
const sprox = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-q",
    `--inspect=127.0.0.1:${inspect}`,
    "-P=sprox",
    `${ROOT}main.ts`,
    "serve",
    "-c",
    dir,
  ],
  cwd: ROOT,
  stdout: "null",
  stderr: "null",
}).spawn();
try {
  const path = values.path!;
  const endpoint = values.direct ? "/proxy/stream" : "/proxy/hls/manifest.m3u8";
  const url = values.direct || values["direct-hls"]
    ? `http://127.0.0.1:${port}${endpoint}?d=${
      encodeURIComponent(`http://127.0.0.1:${origin}${path}`)
    }`
    : `http://127.0.0.1:${port}${path}`;
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  await wrk(url, { connections: 8, seconds: 1 });
  let figures = {};
  const profile = await inspectorProfile(inspect, async () => {
    figures = await wrk(url, {
      connections: Number(values.connections),
      seconds: Number(values.seconds),
    });
  });
  await Deno.writeTextFile(`${dir}/sprox.cpuprofile`, JSON.stringify(profile));
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const f = node.callFrame;
    const where = f.url.replace(/^.*\/(registry\.npmjs\.org|work\/main)\//, "");
    const key = `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  console.log(`wrk: ${JSON.stringify(figures)}`);
  console.log(`profile: ${dir}/sprox.cpuprofile (${total} samples)\n`);
  console.log("self % | function");
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${(100 * hits / total).toFixed(1).padStart(5)}% | ${key}`);
  }
} finally {
  sprox.kill("SIGTERM");
  await sprox.status;
  for (const p of peers) await p.stop();
}
