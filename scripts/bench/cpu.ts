/**
 * CPU time per request, A/B: the floor, sProx (route with HLS rewriting on, and a route with
 * it off) and, with `--baseline DIR`, the same two routes of another checkout, interleaved,
 * medians. CPU is read from `/proc/<pid>/stat` around each wrk run; on a shared machine it is
 * steadier than requests per second.
 *
 * Usage: deno run -A scripts/bench/cpu.ts [--path /small.m3u8] [--connections 32]
 *        [--seconds 4] [--reps 3] [--baseline /path/to/checkout/] [--direct | --direct-hls]
 *        [--flags="--v8-flags=…"] [--env "NAME=value,…"] [--pipe native]
 *
 * `--direct` measures `/proxy/stream?d=<origin path>` in place of the rewriting route;
 * `--direct-hls` measures `/proxy/hls/manifest.m3u8?d=<origin path>` (a playlist rewritten in
 * direct mode, e.g. with `--path /long.m3u8`).
 * `--pipe native` sets `upstream.body_pipe` on both checkouts' routes. `--flags` and `--env`
 * apply to this checkout's sProx only (with `--baseline` set to this
 * same checkout, an A/B of a runtime knob). The RSS of each process 10 s after the last run
 * is printed at the end.
 * @module
 */
import { parseArgs } from "node:util";
import {
  freePort,
  type Peer,
  selfSignedCert,
  startFloor,
  startNginxOrigin,
  startSprox,
  waitForHttp,
  writeContent,
} from "./_peers.ts";
import { cpuMs, median, rssMiB, sampleRss, wrk } from "./_tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    path: { type: "string", default: "/small.m3u8" },
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "4" },
    reps: { type: "string", default: "3" },
    baseline: { type: "string" },
    direct: { type: "boolean", default: false },
    "direct-hls": { type: "boolean", default: false },
    flags: { type: "string", default: "" },
    env: { type: "string", default: "" },
    pipe: { type: "string", default: "guarded" },
  },
});

/** One peer's URL and process. */
interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
}

/**
 * One wrk run against `target`: CPU µs per request (the process's user + system time over
 * the run divided by the requests completed), req/s and the peak RSS (MiB).
 */
export async function measureCpu(
  target: Target,
  options: { connections: number; seconds: number; headers?: string[] },
): Promise<{ cpuUs: number; rps: number; rssMax: number; errors: number }> {
  // A second of the same load first, not counted: each run measures the steady state, not
  // the heap regrowing after the quiet spell of the runs before it (docs/performance.md,
  // "After a quiet spell").
  await wrk(target.url, { ...options, seconds: 1 });
  const sampler = sampleRss(target.pid);
  const before = cpuMs(target.pid);
  const figures = await wrk(target.url, options);
  const after = cpuMs(target.pid);
  const rss = sampler.stop();
  return {
    cpuUs: (after - before) * 1000 / figures.requests,
    rps: figures.rps,
    rssMax: rss.max,
    errors: figures.errors,
  };
}

if (import.meta.main) {
  const dir = `${ROOT}var/bench/cpu-${Date.now()}`;
  await writeContent(`${dir}/content`, 16 * 1024 * 1024);
  const tls = await selfSignedCert(dir);
  const origin = freePort();
  const peers: Peer[] = [];
  try {
    peers.push(await startNginxOrigin(dir, `${dir}/content`, origin));
    const floorPort = freePort();
    const floor = startFloor(dir, origin, floorPort, freePort(), tls);
    peers.push(...floor);
    const path = values.path!;
    const originUrl = `http://127.0.0.1:${origin}`;
    const targets: Target[] = [{
      name: "floor",
      url: `http://127.0.0.1:${floorPort}${path}`,
      pid: floor[0].pid,
    }];
    const checkouts: [string, string | undefined][] = [["sprox", undefined]];
    if (values.baseline) checkouts.push(["base", values.baseline.replace(/\/?$/, "/")]);
    for (const [name, root] of checkouts) {
      const port = freePort();
      const plainPort = freePort();
      const knobs = root === undefined
        ? {
          flags: values.flags ? values.flags.split(" ") : [],
          env: Object.fromEntries(
            values.env ? values.env.split(",").map((kv) => kv.split("=") as [string, string]) : [],
          ),
        }
        : {};
      const sprox = await startSprox(dir, origin, port, freePort(), tls, {
        plainPort,
        root,
        name,
        bodyPipe: values.pipe === "native" ? "native" : "guarded",
        ...knobs,
      });
      peers.push(sprox);
      await waitForHttp(`http://127.0.0.1:${plainPort}/health`);
      if (values.direct || values["direct-hls"]) {
        const endpoint = values.direct ? "/proxy/stream" : "/proxy/hls/manifest.m3u8";
        targets.push({
          name: `${name}-direct`,
          url: `http://127.0.0.1:${plainPort}${endpoint}?d=${encodeURIComponent(originUrl + path)}`,
          pid: sprox.pid,
        });
      } else {
        targets.push({
          name: `${name}-on`,
          url: `http://127.0.0.1:${port}${path}`,
          pid: sprox.pid,
        });
      }
      targets.push({
        name: `${name}-off`,
        url: `http://127.0.0.1:${plainPort}${path}`,
        pid: sprox.pid,
      });
    }
    await waitForHttp(targets[0].url);
    const options = { connections: Number(values.connections), seconds: Number(values.seconds) };
    for (const t of targets) await wrk(t.url, { connections: 8, seconds: 1 });
    const results = new Map<string, { cpuUs: number; rps: number; rssMax: number }[]>();
    for (let rep = 0; rep < Number(values.reps); rep++) {
      for (const t of targets) {
        const r = await measureCpu(t, options);
        if (r.errors) console.error(`${t.name}: ${r.errors} errors`);
        results.set(t.name, [...(results.get(t.name) ?? []), r]);
        console.error(
          `${t.name.padEnd(12)} ${r.cpuUs.toFixed(0).padStart(6)} µs/req ${
            r.rps.toFixed(0).padStart(6)
          } req/s ${r.rssMax.toFixed(0)} MiB`,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const idle = new Map(targets.map((t) => [t.pid, rssMiB(t.pid)]));
    const floorCpu = median(results.get("floor")!.map((r) => r.cpuUs));
    const floorRps = median(results.get("floor")!.map((r) => r.rps));
    console.log(`\n${path}, ${options.connections} conns, medians of ${values.reps}:`);
    for (const [name, rs] of results) {
      const cpu = median(rs.map((r) => r.cpuUs));
      const rps = median(rs.map((r) => r.rps));
      console.log(
        `${name.padEnd(12)} ${cpu.toFixed(0).padStart(6)} µs/req (${
          (cpu / floorCpu).toFixed(2)
        }× floor) ${rps.toFixed(0).padStart(6)} req/s (${(rps / floorRps).toFixed(2)}×) peak ${
          Math.max(...rs.map((r) => r.rssMax)).toFixed(0)
        } MiB, ${idle.get(targets.find((t) => t.name === name)!.pid)!.toFixed(0)} MiB 10 s after`,
      );
    }
  } finally {
    for (const p of peers.reverse()) await p.stop();
  }
}
