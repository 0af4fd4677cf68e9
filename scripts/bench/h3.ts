/**
 * HTTP/3 beside HTTP/2 on one sProx listener (`listen.http3`): single-stream download
 * throughput and the small-request rate over one connection. The HTTP/3 load client is
 * ngtcp2's example client (`gtlsclient`, Debian package `ngtcp2-client`, ngtcp2 + nghttp3:
 * an implementation nobody here wrote); HTTP/2 uses curl and h2load. Both clients run with
 * TLS 1.3 on loopback against the same process.
 * @module
 */
import { freePort, selfSignedCert, waitForHttp } from "./_peers.ts";
import { h2load, median } from "./_tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function timed(
  command: string,
  args: string[],
): Promise<{ ms: number; ok: boolean; text: string }> {
  const started = performance.now();
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const d = new TextDecoder();
  return {
    ms: performance.now() - started,
    ok: out.success,
    text: d.decode(out.stdout) + d.decode(out.stderr),
  };
}

async function hasGtlsclient(): Promise<boolean> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "command -v gtlsclient"],
    stdout: "null",
  }).output();
  return out.success;
}

/**
 * Runs the HTTP/3 scenarios; returns markdown lines for the report (a note when the HTTP/3
 * client is missing).
 */
export async function runH3Bench(quick: boolean): Promise<string[]> {
  if (!(await hasGtlsclient())) {
    return ["", "HTTP/3: skipped (no gtlsclient; `apt-get install ngtcp2-client`)."];
  }
  const bigBytes = (quick ? 64 : 256) * 1024 * 1024;
  const requests = quick ? 2000 : 10000;
  const reps = quick ? 2 : 3;
  const dir = await Deno.makeTempDir({ dir: `${ROOT}var` });
  const big = new Uint8Array(bigBytes).fill(97);
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/big.bin") return new Response(big);
    return new Response("#EXTM3U\n#EXT-X-VERSION:3\n".repeat(40));
  });
  const tls = await selfSignedCert(dir);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `rate_limit: { enabled: false }
telemetry: { log_level: warn }
routes:
  - id: h3
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls: { enabled: true, certificate_path: "${tls.cert}", private_key_path: "${tls.key}", watch_for_changes: false }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}", read_timeout_ms: 60000, request_timeout_ms: 120000 }
`,
  );
  const sprox = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=sprox", `${ROOT}main.ts`, "serve", "-c", dir],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `https://127.0.0.1:${port}`;
  const figures: Record<string, number[]> = {};
  const keep = (name: string, value: number) => (figures[name] ??= []).push(value);
  try {
    await waitForHttp(`${base}/health`);
    const h3Args = [
      "-q",
      "--exit-on-all-streams-close",
      "--max-streams-bidi=100",
      "127.0.0.1",
      String(port),
    ];
    for (let rep = 0; rep < reps; rep++) {
      const h2 = await timed("curl", ["-sk", "--http2", "-o", "/dev/null", `${base}/big.bin`]);
      if (h2.ok) keep("h2 single stream MiB/s", bigBytes / 1048576 / (h2.ms / 1000));
      const h3 = await timed("gtlsclient", [...h3Args, `${base}/big.bin`]);
      if (h3.ok) keep("h3 single stream MiB/s", bigBytes / 1048576 / (h3.ms / 1000));
      const h2small = await h2load(`${base}/small.m3u8`, { requests, streams: 100 });
      keep("h2 small requests/s (1 conn, 100 streams)", h2small.rps);
      const h3small = await timed("gtlsclient", [
        ...h3Args,
        "-n",
        String(requests),
        `${base}/small.m3u8`,
      ]);
      if (h3small.ok) {
        keep("h3 small requests/s (1 conn, 100 streams)", requests / (h3small.ms / 1000));
      }
    }
  } finally {
    try {
      sprox.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await sprox.status;
    await origin.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const lines = [
    "",
    `## HTTP/3 beside HTTP/2 (one sProx listener, ${reps} repetitions, medians; ` +
    `${bigBytes / 1048576} MiB download, ${requests} small requests)`,
    "",
    "HTTP/3 client: ngtcp2 `gtlsclient` (wall time, handshake included); HTTP/2: curl, h2load.",
    "",
    "| figure | median |",
    "| --- | --- |",
  ];
  for (const [name, values] of Object.entries(figures)) {
    lines.push(`| ${name} | ${median(values).toFixed(1)} |`);
  }
  return lines;
}

if (import.meta.main) {
  console.log((await runH3Bench(Deno.args.includes("--quick"))).join("\n"));
}
