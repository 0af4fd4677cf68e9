/**
 * `deno task bench [--quick] [--out FILE] [--only live|workers]`: sProx side by side with nginx
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
import {
  curlDownload,
  type Figures,
  h2load,
  median,
  peerCpuMs,
  rssMiB,
  sampleRss,
  wrk,
} from "./_tools.ts";
import { runManifestBench } from "./manifests.ts";
import { runH3Bench } from "./h3.ts";
import { runLiveBench } from "./live.ts";
import { runWorkersBench } from "./workers.ts";

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
  const only = values.only;
  if (only !== "live" && only !== "workers") {
    throw new Error(`--only: unknown scenario "${only}" (live, workers)`);
  }
  const report = only === "live"
    ? (await runLiveBench(quick)).join("\n") + "\n"
    : `## Worker isolates: 1 against 2\n\n${await runWorkersBench(quick)}\n`;
  const out = values.out ?? `${ROOT}var/bench/results-${only}.md`;
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
  guarded: freePort(),
  guardedTls: freePort(),
  sprox: freePort(),
  sproxTls: freePort(),
  sproxPlain: freePort(),
  native: freePort(),
  nativeTls: freePort(),
  direct: freePort(),
  directTls: freePort(),
};
const peers: Peer[] = [];
try {
  peers.push(await startNginxOrigin(dir, content, ports.origin));
  const nginx = await startNginxProxy(dir, ports.origin, ports.nginx, ports.nginxTls, tls);
  peers.push(nginx);
  const floor = startFloor(dir, ports.origin, ports.floor, ports.floorTls, tls);
  peers.push(...floor);
  const guarded = startFloor(dir, ports.origin, ports.guarded, ports.guardedTls, tls, true);
  peers.push(...guarded);
  const sprox = await startSprox(dir, ports.origin, ports.sprox, ports.sproxTls, tls, {
    plainPort: ports.sproxPlain,
  });
  peers.push(sprox);
  // Direct mode in a process of its own: its memory is not the route runs' before it.
  const direct = await startSprox(dir, ports.origin, ports.direct, ports.directTls, tls, {
    name: "sprox-direct",
  });
  peers.push(direct);
  // A third sProx process whose routes hand untouched bodies to the native pipe.
  const native = await startSprox(dir, ports.origin, ports.native, ports.nativeTls, tls, {
    name: "sprox-native",
    bodyPipe: "native",
  });
  peers.push(native);
  for (const [key, port] of Object.entries(ports)) {
    const scheme = key.endsWith("Tls") ? "https" : "http";
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
    plain("nginx", ports.nginx, ports.nginxTls, nginx.pid),
    plain("floor", ports.floor, ports.floorTls, floor[0].pid),
    plain("floor-guarded", ports.guarded, ports.guardedTls, guarded[0].pid),
    plain("sprox", ports.sprox, ports.sproxTls, sprox.pid),
    {
      name: "sprox-direct",
      http: `http://127.0.0.1:${ports.direct}`,
      https: `https://127.0.0.1:${ports.directTls}`,
      url: (base, path) => `${base}/proxy/stream?d=${encodeURIComponent(originUrl + path)}`,
      pid: direct.pid,
    },
    plain("sprox-native", ports.native, ports.nativeTls, native.pid),
  ];

  // Does direct mode work on this build? (It needs the /proxy/stream endpoint.)
  const directTarget = targets.find((t) => t.name === "sprox-direct")!;
  const probe = await fetch(directTarget.url(directTarget.http, "/small.m3u8"));
  await probe.body?.cancel();
  const active = probe.status === 200 ? targets : targets.filter((t) => t.name !== "sprox-direct");
  if (probe.status !== 200) console.error(`bench: /proxy/stream answered ${probe.status}; skipped`);
  // The same process on a route with HLS rewriting off (the small-object scenarios only).
  const sproxPlain = plain("sprox-plain", ports.sproxPlain, ports.sproxTls, sprox.pid);
  const columns = active.flatMap((t) => t.name === "sprox" ? [t, sproxPlain] : [t]);

  const results = new Map<string, Figures[]>();
  const keep = (scenario: string, target: string, figures: Figures) => {
    const key = `${scenario}\u0000${target}`;
    results.set(key, [...(results.get(key) ?? []), figures]);
  };
  const rss = { across1Min: Infinity, across1Max: 0 };
  /** RSS (MiB) of each peer 10 s after the 256-connection load ended (last repetition). */
  const idleAfter: Record<string, number> = {};

  /**
   * Runs one load against `t` with its CPU time per request (`cpu_us`, from /proc around the
   * run: steadier than req/s on a shared machine) and its peak RSS (`rss_mib`) added.
   * `warm`: the same load for two seconds first, not counted, so that the run measures the steady
   * state, not the heap regrowing after the quiet spell the other peers' runs gave this one
   * (measured on its own, without it: "first second after 10 s quiet").
   */
  const measured = async (
    t: Target,
    load: (seconds?: number) => Promise<Figures>,
    warm = true,
  ): Promise<Figures> => {
    if (warm) await load(2);
    const sampler = t.pid ? sampleRss(t.pid) : undefined;
    const before = t.pid ? peerCpuMs(t.pid) : NaN;
    const figures = await load();
    const cpu = t.pid ? peerCpuMs(t.pid) - before : NaN;
    const peak = sampler ? sampler.stop().max : NaN;
    const cpuUs = figures.requests > 0 ? cpu * 1000 / figures.requests : NaN;
    return { ...figures, cpu_us: cpuUs, rss_mib: peak };
  };

  for (let rep = 1; rep <= settings.reps; rep++) {
    console.error(`bench: repetition ${rep}/${settings.reps}`);
    for (const t of active) {
      const sampler = t.pid ? sampleRss(t.pid) : undefined;
      const figures = await curlDownload(t.url(t.http, "/big.bin"));
      if (figures.bytes !== settings.bigBytes) throw new Error(`${t.name}: short download`);
      if (sampler) {
        const r = sampler.stop();
        figures.rss_mib = r.max;
        if (t.name.startsWith("sprox")) {
          rss.across1Min = Math.min(rss.across1Min, r.min);
          rss.across1Max = Math.max(rss.across1Max, r.max);
        }
      }
      keep("1 single stream big file", t.name, figures);
    }
    for (const [connections, range] of [[64, false], [64, true], [256, false]] as const) {
      for (const t of active) {
        const figures = await measured(t, (seconds) =>
          wrk(t.url(t.http, "/seg.bin"), {
            connections,
            // 256 transfers of 2 MiB at once take seconds each: a longer run.
            seconds: seconds ?? (connections > 64 ? 4 * settings.seconds : settings.seconds),
            timeoutSeconds: 10,
            headers: range ? ["Range: bytes=0-1048575"] : [],
          }));
        keep(`2 ${connections} conns 2 MiB segment${range ? " (Range)" : ""}`, t.name, figures);
      }
    }
    if (rep === settings.reps) {
      // How much memory the processes give back once the load has ended.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      for (const t of active) if (t.pid) idleAfter[t.name] = rssMiB(t.pid);
      // And what the first second of load costs after that quiet spell (one route per
      // process: the first run ends the other routes' quiet; each sProx process has one here).
      for (const t of active) {
        const figures = await measured(
          t,
          () => wrk(t.url(t.http, "/small.m3u8"), { connections: 32, seconds: 1 }),
          false,
        );
        keep("5 2 KiB playlist, first second after 10 s quiet", t.name, figures);
      }
    }
    for (const t of columns) {
      // The CPU per request on a 2 KiB object: the playlist rewritten (sprox) and passed
      // through (sprox-plain, a route with HLS rewriting off).
      const figures = await measured(
        t,
        (seconds) =>
          wrk(t.url(t.http, "/small.m3u8"), {
            connections: 32,
            seconds: seconds ?? settings.seconds,
          }),
      );
      keep("3 32 conns 2 KiB playlist", t.name, figures);
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
    const metrics = Object.keys(results.get(`${scenario}\u0000floor`)![0]).filter((m) =>
      m !== "bytes" && m !== "requests"
    );
    for (const metric of metrics) {
      const row: Row = { scenario, metric, values: {} };
      for (const t of columns) {
        row.values[t.name] = median(
          (results.get(`${scenario}\u0000${t.name}`) ?? []).map((f) => f[metric] ?? NaN),
        );
      }
      rows.push(row);
    }
  }
  const value = (scenario: string, metric: string, name: string) =>
    rows.find((r) => r.scenario === scenario && r.metric === metric)?.values[name] ?? NaN;

  const fmt = (n: number) =>
    Number.isNaN(n) ? "n/a" : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  const names = columns.map((t) => t.name);
  const ours = names.filter((n) => n.startsWith("sprox") || n === "floor-guarded");
  const lines = [
    `# sProx benchmark (${
      quick ? "quick" : "full"
    }, ${settings.reps} interleaved repetitions, medians)`,
    "",
    `Date: ${
      new Date().toISOString()
    }; ${navigator.hardwareConcurrency} cores; nginx worker_processes 1;`,
    `big file ${settings.bigBytes / 1048576} MiB; wrk ${settings.seconds}s per run.`,
    "sprox: route with HLS rewriting on; sprox-plain: route with it off; sprox-direct:",
    "`/proxy/stream` (a process of its own); sprox-native: a third process, the HLS route with",
    "`body_pipe: native`.",
    "floor-guarded: the floor plus only what seeing every byte costs (an idle read timeout, the",
    "byte count, one JSON log line per request; `scripts/bench/floor.ts --guarded`).",
    "cpu_us: CPU µs per request (process user + system time over the run /",
    "requests; nginx: its worker); rss_mib: peak RSS during the run (sprox and sprox-plain",
    "share a process).",
    "Each wrk run follows two seconds of the same load, not counted (the steady state); row 5 is",
    "the first second of load after 10 s of quiet (last repetition), with no such warm-up.",
    "",
    `| scenario | metric | ${names.join(" | ")} | sprox/nginx | ${
      ours.map((n) => `${n}/floor`).join(" | ")
    } |`,
    `| --- | --- | ${names.map(() => "---").join(" | ")} | --- | ${
      ours.map(() => "---").join(" | ")
    } |`,
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${names.map((n) => fmt(row.values[n])).join(" | ")} | ${
        fmt(row.values["sprox"] / row.values["nginx"])
      } | ${ours.map((n) => fmt(row.values[n] / row.values["floor"])).join(" | ")} |`,
    );
  }
  const idle = Object.entries(idleAfter).map(([n, v]) => `${n} ${fmt(v)}`).join(", ");
  const peak = (name: string) =>
    Math.max(...scenarios.map((sc) => value(sc, "rss_mib", name)).filter((v) => !isNaN(v)));
  const floorCpu = value("3 32 conns 2 KiB playlist", "cpu_us", "floor");
  const check = (ok: boolean) => (ok ? "met" : "**not met**");
  type TargetRow = [string, number, boolean];
  const atMost = (label: string, v: number, limit: number): TargetRow => [label, v, v <= limit];
  const atLeast = (label: string, v: number, limit: number): TargetRow => [label, v, v >= limit];
  const below = (label: string, v: number, limit: number): TargetRow => [label, v, v < limit];
  const cpuRatio = (n: string) => value("3 32 conns 2 KiB playlist", "cpu_us", n) / floorCpu;
  const toFloor = (scenario: string, metric: string, n: string) =>
    value(scenario, metric, n) / value(scenario, metric, "floor");
  const targetRows: TargetRow[] = [
    atMost("CPU per 2 KiB request, rewriting on ≤ 2× floor", cpuRatio("sprox"), 2),
    atMost("CPU per 2 KiB request, rewriting off ≤ 1.5× floor", cpuRatio("sprox-plain"), 1.5),
    atMost(
      "floor-guarded (reference, not sProx): CPU per 2 KiB request ≤ 1.5× floor",
      cpuRatio("floor-guarded"),
      1.5,
    ),
    // The same targets for each process (floor-guarded: what any guarded stage reaches).
    ...["floor-guarded", "sprox", "sprox-direct", "sprox-native"].filter((n) => names.includes(n))
      .flatMap((n): TargetRow[] => [
        atLeast(
          `${n}: single stream ≥ 0.85× floor (ratio)`,
          toFloor("1 single stream big file", "mbps", n),
          0.85,
        ),
        atLeast(
          `${n}: 64 × 2 MiB req/s ≥ 0.8× floor (ratio)`,
          toFloor("2 64 conns 2 MiB segment", "rps", n),
          0.8,
        ),
        atMost(
          `${n}: peak RSS at 256 conns ≤ 200 MiB (MiB)`,
          value("2 256 conns 2 MiB segment", "rss_mib", n),
          200,
        ),
        atMost(`${n}: peak RSS ≤ 1.5× floor's (ratio)`, peak(n) / peak("floor"), 1.5),
        below(`${n}: RSS 10 s after load < 150 MiB (MiB)`, idleAfter[n] ?? NaN, 150),
      ]),
  ];
  lines.push(
    "",
    `RSS 10 s after the 256-connection load ended (MiB): ${idle}. sProx RSS across scenario 1: ` +
      `${rss.across1Min.toFixed(0)}–${rss.across1Max.toFixed(0)} MiB.`,
    "",
    "Latency figures (p50, p99, mean_ms), cpu_us and rss_mib are lower-is-better; their ratios",
    "read the other way.",
    "",
    "| target | measured | reached |",
    "| --- | --- | --- |",
    ...targetRows.map(([name, v, ok]) => `| ${name} | ${fmt(v)} | ${check(ok)} |`),
    "",
    ...(await runManifestBench(quick)),
    ...(await runH3Bench(quick)),
    "",
    "## Worker isolates: 1 against 2 (`server.workers`)",
    "",
    await runWorkersBench(quick),
    // The live fan-out scenario takes minutes: `--quick` leaves it to `--only live --quick`.
    ...(quick ? [] : await runLiveBench(quick, `${dir}/live`)),
  );
  const report = lines.join("\n") + "\n";
  const out = values.out ?? `${ROOT}var/bench/results.md`;
  await Deno.writeTextFile(out, report);
  console.log(report);
  console.error(`bench: written to ${out}`);
} finally {
  for (const p of peers.reverse()) await p.stop();
}
