import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";

function config(port: number, extra = ""): string {
  return `
routes:
  - id: ep
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
${extra}`;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("runtime endpoints answer over a loopback socket", async (t) => {
  const port = freePort();
  const sprox = await startSprox(config(
    port,
    `
client_ip:
  trusted_proxies: []
`,
  ));
  const base = `http://127.0.0.1:${port}`;
  try {
    await t.step("/health answers 200 and counts the probe", async () => {
      const response = await fetch(`${base}/health`, { signal: deadline() });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: "ok" });
      assert.match(
        response.headers.get("x-request-id") ?? "",
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      const metrics = await (await fetch(`${base}/metrics`, { signal: deadline() })).text();
      assert.match(metrics, /^sprox_health_checks_total 1$/m);
    });

    await t.step("/metrics is Prometheus text with request counters", async () => {
      const response = await fetch(`${base}/metrics`, { signal: deadline() });
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
      const text = await response.text();
      assert.match(
        text,
        /sprox_http_requests_total\{route="health",method="GET",status_class="2xx"\} \d+/,
      );
      assert.match(text, /sprox_config_info\{hash="[0-9a-f]{8}",version="[^"]+"\} 1/);
    });

    await t.step("/ip ignores forwarding headers from an untrusted peer", async () => {
      const response = await fetch(`${base}/ip`, {
        headers: { "x-forwarded-for": "198.51.100.7" },
        signal: deadline(),
      });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ip: "127.0.0.1" });
    });

    await t.step("/speedtest streams 8 MiB of the same bytes every time, uncached", async () => {
      const first = await fetch(`${base}/speedtest`, { signal: deadline() });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get("cache-control"), "no-store");
      const a = new Uint8Array(await first.arrayBuffer());
      const b = new Uint8Array(
        await (await fetch(`${base}/speedtest`, { signal: deadline() })).arrayBuffer(),
      );
      assert.equal(a.byteLength, 8 * 1024 * 1024);
      assert.equal(await sha256(a), await sha256(b));
      assert.ok(new Set(a.subarray(0, 4096)).size > 200, "payload is not a constant fill");
      const line = await sprox.waitForLog((l) => l.msg === "speedtest finished");
      assert.equal(line.bytes, 8 * 1024 * 1024);
      assert.equal(typeof line.throughput_mbps, "number");
    });
  } finally {
    await sprox.stop();
  }
});

Deno.test("/ip believes forwarding headers from a trusted proxy, in the spec's order", async () => {
  const port = freePort();
  const sprox = await startSprox(config(port));
  const ip = async (headers: Record<string, string>) =>
    (await (await fetch(`http://127.0.0.1:${port}/ip`, { headers, signal: deadline() })).json()).ip;
  try {
    assert.equal(await ip({ forwarded: 'for="[2001:db8::1]:4711";proto=https' }), "2001:db8::1");
    assert.equal(
      await ip({ forwarded: "for=192.0.2.60", "x-forwarded-for": "198.51.100.1" }),
      "192.0.2.60",
    );
    assert.equal(await ip({ "x-forwarded-for": "203.0.113.5, 127.0.0.1" }), "203.0.113.5");
    assert.equal(await ip({ "x-real-ip": "203.0.113.6" }), "203.0.113.6");
    assert.equal(await ip({ "cf-connecting-ip": "203.0.113.7" }), "203.0.113.7");
    assert.equal(await ip({ "x-client-ip": "203.0.113.8" }), "203.0.113.8");
    assert.equal(await ip({ "x-forwarded-for": "not-an-ip" }), "127.0.0.1");
    assert.equal(await ip({}), "127.0.0.1");
  } finally {
    await sprox.stop();
  }
});

Deno.test("/metrics answers 501 when telemetry is disabled; an unknown host gets 404 JSON", async () => {
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: only
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["only.example.com"]
    upstream: { origin: "http://127.0.0.1:9" }
telemetry:
  enabled: false
`);
  try {
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() });
    assert.equal(metrics.status, 501);
    assert.equal((await metrics.json()).error, "telemetry_disabled");
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const noRoute = await fetch(`http://127.0.0.1:${port}/x`, {
      headers: { host: "other.example.com" },
      signal: deadline(),
    });
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.headers.get("content-type"), "application/json");
    assert.equal((await noRoute.json()).error, "no_route");
  } finally {
    await sprox.stop();
  }
});
