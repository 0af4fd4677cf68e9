/**
 * `deno task bench --only workers [--quick]` (or `deno run -A scripts/bench/workers.ts`):
 * sProx with `server.workers: 1` against `server.workers: 2` on the CPU-bound scenarios
 * (2 KiB playlist with rewriting, 2 KiB object without, 64 connections × 2 MiB segment),
 * interleaved, medians, the 2-worker/1-worker ratio. The origin is nginx on loopback.
 * @module
 */
import { parseArgs } from "node:util";
import {
  freePort,
  type Peer,
  spawn,
  startNginxOrigin,
  waitForHttp,
  writeContent,
} from "./_peers.ts";
import { cpuMs, median, sampleRss, wrk } from "./_tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function startWorkersSprox(workers: number, originPort: number, port: number): Promise<Peer> {
  const dir = `${ROOT}var/bench-workers-${workers}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `server: { workers: ${workers} }
rate_limit: { enabled: false }
routes:
  - id: rewrite
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["rewrite.test"]
    upstream: { origin: "http://127.0.0.1:${originPort}" }
    hls: { enabled: true, rewrite_playlist_urls: true, base_url: "https://sprox.example" }
  - id: plain
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${originPort}" }
    hls: { enabled: false }
`,
  );
  // A fresh log per run: "sprox started" of an earlier run must not count.
  await Deno.writeTextFile(`${dir}/out.log`, "");
  const peer = spawn(
    `workers-${workers}`,
    Deno.execPath(),
    ["run", "-q", "-P=sprox", `${ROOT}main.ts`, "serve", "-c", dir],
    `${dir}/out.log`,
  );
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  // Worker isolates bind after the first isolate: wait for "sprox started".
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const text = await Deno.readTextFile(`${dir}/out.log`).catch(() => "");
    if (text.includes('"sprox started"')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return peer;
}

/** Runs the comparison; returns the markdown table. */
export async function runWorkersBench(quick: boolean): Promise<string> {
  const seconds = quick ? 3 : 8;
  const reps = quick ? 2 : 3;
  // Under var/ (not a 0700 temporary directory): nginx's workers must read the content.
  const dir = `${ROOT}var/bench/workers-${Date.now()}`;
  await Deno.mkdir(dir, { recursive: true });
  const content = `${dir}/content`;
  await writeContent(content, 1024 * 1024);
  const originPort = freePort();
  const origin = await startNginxOrigin(dir, content, originPort);
  await waitForHttp(`http://127.0.0.1:${originPort}/small.m3u8`);
  const scenarios = [
    { name: "2 KiB playlist, rewriting on", path: "/small.m3u8", host: "rewrite.test", conns: 64 },
    { name: "2 KiB object, no rewriting", path: "/small.m3u8", host: "plain.test", conns: 64 },
    { name: "2 MiB segment, 64 conns", path: "/seg.bin", host: "plain.test", conns: 64 },
  ];
  const results = new Map<string, { rps: number[]; cpu: number[]; rss: number[] }>();
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const workers of [1, 2]) {
        const port = freePort();
        const sprox = await startWorkersSprox(workers, originPort, port);
        try {
          for (const s of scenarios) {
            const url = `http://127.0.0.1:${port}${s.path}`;
            const headers = [`Host: ${s.host}`];
            await wrk(url, { connections: s.conns, seconds: 1, headers });
            const rss = sampleRss(sprox.pid!);
            const before = cpuMs(sprox.pid!);
            const figures = await wrk(url, { connections: s.conns, seconds, headers });
            const cpu = (cpuMs(sprox.pid!) - before) * 1000 / figures.requests;
            const key = `${s.name}|${workers}`;
            const entry = results.get(key) ?? { rps: [], cpu: [], rss: [] };
            entry.rps.push(figures.rps);
            entry.cpu.push(cpu);
            entry.rss.push(rss.stop().max);
            results.set(key, entry);
            if (figures.errors > 0) throw new Error(`${key}: ${figures.errors} errors`);
          }
        } finally {
          await sprox.stop();
        }
      }
    }
  } finally {
    await origin.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const lines = [
    "| scenario | workers: 1 req/s | workers: 2 req/s | ratio | CPU µs/req (1 / 2) | peak RSS MiB (1 / 2) |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const s of scenarios) {
    const one = results.get(`${s.name}|1`)!;
    const two = results.get(`${s.name}|2`)!;
    const r1 = median(one.rps);
    const r2 = median(two.rps);
    lines.push(
      `| ${s.name} | ${r1.toFixed(0)} | ${r2.toFixed(0)} | ${(r2 / r1).toFixed(2)} | ${
        median(one.cpu).toFixed(0)
      } / ${median(two.cpu).toFixed(0)} | ${median(one.rss).toFixed(0)} / ${
        median(two.rss).toFixed(0)
      } |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" } } });
  console.log(await runWorkersBench(values.quick ?? false));
}
