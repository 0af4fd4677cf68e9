/**
 * `deno task bench [--quick] [--out FILE] [--only live]`: sProx side by side with nginx
 * (`proxy_pass`, the reference) and a bare Deno pass-through (the floor of our stack),
 * interleaved (A B C D, A B C D, ...), medians over the repetitions, ratios in a markdown
 * table; then the manifest, HTTP/3 and live fan-out (cache) scenarios. `--only live` runs the
 * live fan-out scenario alone.
 * @module
 */
import { parseArgs } from "node:util";
import {
  freePort,
  type Peer,
  selfSignedCert,
  startFloor,
  startNginxOrigin,
  startNginxProxy,
  startSprox,
  waitForHttp,
  writeContent,
} from "./_peers.ts";
import { curlDownload, type Figures, h2load, median, sampleRss, wrk } from "./_tools.ts";
import { runManifestBench } from "./manifests.ts";
import { runH3Bench } from "./h3.ts";
import { runLiveBench } from "./live.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, out: { type: "string" }, only: { type: "string" } },
});
const quick = values.quick ?? false;
const settings = quick
  ? { reps: 2, seconds: 2, bigBytes: 256 * 1024 * 1024, h2Requests: 2000 }
  : { reps: 3, seconds: 8, bigBytes: 1024 * 1024 * 1024, h2Requests: 10000 };

async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  for (
    const [tool, pkg] of [["nginx", "nginx"], ["wrk", "wrk"], ["h2load", "nghttp2-client"], [
      "curl",
      "curl",
    ], ["openssl", "openssl"]]
  ) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "null",
    })
      .output();
    if (!found.success) missing.push(pkg);
  }
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(" ")} ...`);
  const sudo = Deno.uid() === 0 ? [] : ["sudo"];
  for (
    const args of [["apt-get", "update", "-qq"], [
      "apt-get",
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      ...missing,
    ]]
  ) {
    const [cmd, ...rest] = [...sudo, ...args];
    const out = await new Deno.Command(cmd, {
      args: rest,
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    if (!out.success) throw new Error(`could not install ${missing.join(" ")}`);
  }
}

interface Target {
  readonly name: string;
  readonly http: string;
  readonly https: string;
  /** How a path is requested through this target. */
  url(base: string, path: string): string;
  readonly pid?: number;
}

type Row = { scenario: string; metric: string; values: Record<string, number> };

await ensureTools();
if (values.only !== undefined) {
  if (values.only !== "live") throw new Error(`--only: unknown scenario "${values.only}"`);
  const report = (await runLiveBench(quick)).join("\n") + "\n";
  const out = values.out ?? `${ROOT}var/bench/results-live.md`;
  await Deno.writeTextFile(out, report);
  console.log(report);
  console.error(`bench: written to ${out}`);
  Deno.exit(0);
}
const dir = `${ROOT}var/bench/${Date.now()}`;
const content = `${dir}/content`;
console.error(`bench: writing content to ${content} (${settings.bigBytes / 1048576} MiB file)`);
await writeContent(content, settings.bigBytes);
const tls = await selfSignedCert(dir);

const ports = {
  origin: freePort(),
  nginx: freePort(),
  nginxTls: freePort(),
  floor: freePort(),
  floorTls: freePort(),
  sprox: freePort(),
  sproxTls: freePort(),
};
const peers: Peer[] = [];
try {
  peers.push(await startNginxOrigin(dir, content, ports.origin));
  peers.push(await startNginxProxy(dir, ports.origin, ports.nginx, ports.nginxTls, tls));
  peers.push(...startFloor(dir, ports.origin, ports.floor, ports.floorTls, tls));
  const sprox = await startSprox(dir, ports.origin, ports.sprox, ports.sproxTls, tls);
  peers.push(sprox);
  for (const port of Object.values(ports)) {
    const scheme = [ports.nginxTls, ports.floorTls, ports.sproxTls].includes(port)
      ? "https"
      : "http";
    await waitForHttp(`${scheme}://127.0.0.1:${port}/small.m3u8`);
  }

  const plain = (name: string, port: number, tlsPort: number, pid?: number): Target => ({
    name,
    http: `http://127.0.0.1:${port}`,
    https: `https://127.0.0.1:${tlsPort}`,
    url: (base, path) => `${base}${path}`,
    pid,
  });
  const originUrl = `http://127.0.0.1:${ports.origin}`;
  const targets: Target[] = [
    plain("nginx", ports.nginx, ports.nginxTls),
    plain("floor", ports.floor, ports.floorTls),
    plain("sprox", ports.sprox, ports.sproxTls, sprox.pid),
    {
      name: "sprox-direct",
      http: `http://127.0.0.1:${ports.sprox}`,
      https: `https://127.0.0.1:${ports.sproxTls}`,
      url: (base, path) => `${base}/proxy/stream?d=${encodeURIComponent(originUrl + path)}`,
      pid: sprox.pid,
    },
  ];

  // Does direct mode work on this build? (It needs the /proxy/stream endpoint.)
  const probe = await fetch(targets[3].url(targets[3].http, "/small.m3u8"));
  await probe.body?.cancel();
  const active = probe.status === 200 ? targets : targets.slice(0, 3);
  if (probe.status !== 200) console.error(`bench: /proxy/stream answered ${probe.status}; skipped`);

  const results = new Map<string, Figures[]>();
  const keep = (scenario: string, target: string, figures: Figures) => {
    const key = `${scenario}\u0000${target}`;
    results.set(key, [...(results.get(key) ?? []), figures]);
  };
  const rss = { during2: 0, across1Min: Infinity, across1Max: 0 };

  for (let rep = 1; rep <= settings.reps; rep++) {
    console.error(`bench: repetition ${rep}/${settings.reps}`);
    for (const t of active) {
      const sampler = t.pid ? sampleRss(t.pid) : undefined;
      const figures = await curlDownload(t.url(t.http, "/big.bin"));
      if (figures.bytes !== settings.bigBytes) throw new Error(`${t.name}: short download`);
      keep("1 single stream big file", t.name, figures);
      if (sampler) {
        const r = sampler.stop();
        rss.across1Min = Math.min(rss.across1Min, r.min);
        rss.across1Max = Math.max(rss.across1Max, r.max);
      }
    }
    for (const range of [false, true]) {
      for (const t of active) {
        const sampler = t.pid ? sampleRss(t.pid) : undefined;
        const figures = await wrk(t.url(t.http, "/seg.bin"), {
          connections: 64,
          seconds: settings.seconds,
          headers: range ? ["Range: bytes=0-1048575"] : [],
        });
        keep(`2 64 conns 2 MiB segment${range ? " (Range)" : ""}`, t.name, figures);
        if (sampler) rss.during2 = Math.max(rss.during2, sampler.stop().max);
      }
    }
    for (const t of active) {
      keep(
        "3 32 conns small playlist",
        t.name,
        await wrk(t.url(t.http, "/small.m3u8"), { connections: 32, seconds: settings.seconds }),
      );
    }
    for (const t of active) {
      keep(
        "4 h2 TLS 1 conn x 100 streams",
        t.name,
        await h2load(t.url(t.https, "/small.m3u8"), {
          requests: settings.h2Requests,
          streams: 100,
        }),
      );
    }
  }

  const rows: Row[] = [];
  const scenarios = [...new Set([...results.keys()].map((k) => k.split("\u0000")[0]))];
  for (const scenario of scenarios) {
    const metrics = Object.keys(results.get(`${scenario}\u0000nginx`)![0]).filter((m) =>
      m !== "bytes" && m !== "requests"
    );
    for (const metric of metrics) {
      const row: Row = { scenario, metric, values: {} };
      for (const t of active) {
        row.values[t.name] = median(
          (results.get(`${scenario}\u0000${t.name}`) ?? []).map((f) => f[metric]),
        );
      }
      rows.push(row);
    }
  }

  const fmt = (n: number) =>
    Number.isNaN(n) ? "n/a" : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  const names = active.map((t) => t.name);
  const lines = [
    `# sProx benchmark (${
      quick ? "quick" : "full"
    }, ${settings.reps} interleaved repetitions, medians)`,
    "",
    `Date: ${
      new Date().toISOString()
    }; ${navigator.hardwareConcurrency} cores; nginx worker_processes 1;`,
    `big file ${settings.bigBytes / 1048576} MiB; wrk ${settings.seconds}s per run.`,
    "",
    `| scenario | metric | ${names.join(" | ")} | sprox/nginx | sprox/floor |`,
    `| --- | --- | ${names.map(() => "---").join(" | ")} | --- | --- |`,
  ];
  for (const row of rows) {
    const s = row.values["sprox"];
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${names.map((n) => fmt(row.values[n])).join(" | ")} | ${
        fmt(s / row.values["nginx"])
      } | ${fmt(s / row.values["floor"])} |`,
    );
  }
  lines.push(
    "",
    `sProx RSS: peak ${rss.during2.toFixed(0)} MiB during scenario 2; ` +
      `${rss.across1Min.toFixed(0)}–${rss.across1Max.toFixed(0)} MiB across scenario 1.`,
    "",
    "Latency figures (p50, p99, mean_ms) are lower-is-better; their ratios read the other way.",
    "",
    ...(await runManifestBench(quick)),
    ...(await runH3Bench(quick)),
    ...(await runLiveBench(quick, `${dir}/live`)),
  );
  const report = lines.join("\n") + "\n";
  const out = values.out ?? `${ROOT}var/bench/results.md`;
  await Deno.writeTextFile(out, report);
  console.log(report);
  console.error(`bench: written to ${out}`);
} finally {
  for (const p of peers.reverse()) await p.stop();
}
