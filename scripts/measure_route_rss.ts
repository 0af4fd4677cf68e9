/**
 * Measurement: streams a large body (1 GiB by default) through a route and checks it
 * byte-exact, sampling the proxy's resident memory (VmRSS) from /proc while it runs.
 *
 *   deno run -A scripts/measure_route_rss.ts [size-in-MiB]
 * @module
 */
import { freePort, startSprox } from "../tests/_support/mod.ts";
import { startOrigin } from "../tests/_support/origins.ts";

const MIB = 1024 * 1024;
const size = Number(Deno.args[0] ?? 1024) * MIB;
/** byte i = (i * 31 + (i >> 16)) & 0xff has a period of 16 MiB. */
const PERIOD = 16 * MIB;
const block = new Uint8Array(PERIOD);
for (let i = 0; i < PERIOD; i++) block[i] = (i * 31 + (i >> 16)) & 0xff;

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

const origin = await startOrigin(() => {
  let sent = 0;
  return new Response(
    new ReadableStream({
      pull(c) {
        if (sent >= size) return c.close();
        const offset = sent % PERIOD;
        const n = Math.min(256 * 1024, size - sent, PERIOD - offset);
        c.enqueue(block.subarray(offset, offset + n));
        sent += n;
      },
    }, { highWaterMark: 0 }),
    { headers: { "content-length": String(size) } },
  );
});
const port = freePort();
const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: bulk
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`);
const samples: number[] = [rssKiB(sprox.pid)];
const sampler = setInterval(() => samples.push(rssKiB(sprox.pid)), 250);
const started = performance.now();
const response = await fetch(`http://127.0.0.1:${port}/big.bin`);
let offset = 0;
let mismatches = 0;
for await (const chunk of response.body!) {
  for (let j = 0; j < chunk.length; j++) {
    if (chunk[j] !== block[(offset + j) % PERIOD]) mismatches++;
  }
  offset += chunk.length;
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
samples.push(rssKiB(sprox.pid));
await sprox.stop();
await origin.close();

const mib = (kib: number) => (kib / 1024).toFixed(1);
console.log(JSON.stringify({
  bytes: offset,
  expected: size,
  byte_exact: offset === size && mismatches === 0,
  seconds: Number(seconds.toFixed(2)),
  mib_per_sec: Number((offset / MIB / seconds).toFixed(1)),
  proxy_rss_mib: {
    before: mib(samples[0]),
    min: mib(Math.min(...samples)),
    max: mib(Math.max(...samples)),
    after: mib(samples[samples.length - 1]),
    samples: samples.length,
    trace: samples.filter((_, i) => i % 4 === 0).map((s) => Math.round(s / 1024)),
  },
}));
