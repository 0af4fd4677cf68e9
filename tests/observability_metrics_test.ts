/**
 * `/metrics` after real traffic: every metric family the documentation lists is present,
 * and the live scrape passes `promtool check metrics`.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  deadline,
  freePort,
  scratchDir,
  selfSignedCertificate,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";

async function promtool(exposition: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(exposition));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, output: text };
}

/** The value of the first sample of `name` whose labels contain `labels`. */
function sample(exposition: string, name: string, labels = ""): number | undefined {
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(" ") || rest.startsWith("{"))) continue;
    if (labels && !rest.includes(labels)) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

Deno.test("a live scrape after traffic passes promtool and carries every metric family", async () => {
  const dir = await scratchDir();
  await selfSignedCertificate(dir, { days: 45 });
  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("y".repeat(4096)),
  );
  const port = freePort();
  const tlsPort = freePort();
  const sprox = await startSprox(
    `routes:
  - id: media
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
  - id: secure
    listen:
      host: "127.0.0.1"
      port: ${tlsPort}
      tls:
        enabled: true
        certificate_path: "${dir}/cert.pem"
        private_key_path: "${dir}/key.pem"
    host_patterns: ["secure.test"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
rate_limit: { requests_per_second: 0.2, burst: 3 }
secrets:
  clearkey:
    - { kid: "00112233445566778899aabbccddeeff", key: "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f" }
`,
    { dir },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 6; i++) {
      // One unknown method, refused by the request gate before the rate limiter sees it;
      // of the five GETs three pass (the burst) and two are refused.
      const r = await fetch(`${base}/seg${i}.ts`, {
        method: i === 1 ? "BREW" : "GET",
        signal: deadline(),
      });
      await r.arrayBuffer();
    }
    for (let i = 0; i < 3; i++) {
      await (await fetch(`${base}/health`, { signal: deadline() })).arrayBuffer();
    }
    await (await fetch(`${base}/keys`, {
      headers: { "x-forwarded-for": "192.0.2.1" },
      signal: deadline(),
    }))
      .arrayBuffer();
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");

    const scrape = await fetch(`${base}/metrics`, { signal: deadline() });
    assertEquals(scrape.status, 200);
    const text = await scrape.text();
    const checked = await promtool(text);
    assertEquals(checked.code, 0, checked.output);

    assertEquals(sample(text, "sprox_http_requests_total", 'route="media",method="GET"'), 3);
    assertEquals(
      sample(text, "sprox_http_requests_total", 'route="request_gate",method="OTHER"'),
      1,
      "unknown methods are refused by the gate and fold into one label value",
    );
    assertEquals(sample(text, "sprox_http_requests_total", 'route="rate_limited"'), 2);
    assert(sample(text, "sprox_http_request_duration_seconds_bucket", 'le="60"') !== undefined);
    assert((sample(text, "sprox_upstream_latency_seconds_count", 'scope="media"') ?? 0) >= 3);
    assert((sample(text, "sprox_bytes_streamed_total", 'mode="route"') ?? 0) >= 2 * 4096);
    assertEquals(sample(text, "sprox_rate_limited_requests_total"), 2);
    assertEquals(sample(text, "sprox_health_checks_total"), 3);
    assertEquals(sample(text, "sprox_config_reloads_total", 'outcome="success"'), 1);
    assertEquals(sample(text, "sprox_config_info"), 1);
    assertEquals(sample(text, "sprox_drm_key_requests_total", 'endpoint="keys",outcome="ok"'), 1);
    const expiry = sample(
      text,
      "sprox_tls_certificate_expiry_timestamp_seconds",
      `listener="127.0.0.1:${tlsPort}"`,
    )!;
    assertEquals(Math.round((expiry * 1000 - Date.now()) / 86_400_000), 45);
    assert((sample(text, "process_resident_memory_bytes") ?? 0) > 0);
    assert((sample(text, "process_cpu_seconds_total") ?? 0) > 0);
    assert((sample(text, "process_start_time_seconds") ?? 0) > 1.7e9);
    assert((sample(text, "deno_memory_bytes", 'kind="heap_used"') ?? 0) > 0);
    for (
      const family of [
        "sprox_upstream_retries_total",
        "sprox_retry_budget_exhausted_total",
        "sprox_manifest_transform_duration_seconds",
        "sprox_request_errors_total",
        "deno_eventloop_lag_seconds",
      ]
    ) assert(text.includes(`# TYPE ${family} `), family);
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
    await Deno.remove(dir, { recursive: true });
  }
});
