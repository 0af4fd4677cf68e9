/**
 * Rate limiting over real sockets: burst then 429 with Retry-After and the IETF fields,
 * refill, per-client isolation, trusted-proxy rules, the header key, exempt paths, reload.
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";

function config(port: number, rateLimit: string, extra = ""): string {
  return `routes:
  - id: edge
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["edge.test"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit:
${rateLimit}
${extra}`;
}

async function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: deadline() });
  await response.body?.cancel();
  return response;
}

Deno.test("a burst is served, then 429 with Retry-After and RateLimit fields; tokens refill", async () => {
  const port = freePort();
  const sprox = await startSprox(
    // 1.2 tokens a second: the six requests below have 833 ms before a refill (and a window
    // of 5 / 1.2 rounded up).
    config(port, "  requests_per_second: 1.2\n  burst: 5"),
  );
  try {
    for (let i = 0; i < 5; i++) {
      const ok = await get(port, "/ip");
      assertEquals(ok.status, 200, `request ${i} of the burst`);
      assertEquals(ok.headers.get("ratelimit-policy"), '"sprox";q=5;w=5');
      assertMatch(ok.headers.get("ratelimit") ?? "", new RegExp(`^"sprox";r=${4 - i};t=\\d+$`));
    }
    const refused = await fetch(`http://127.0.0.1:${port}/ip`, { signal: deadline() });
    assertEquals(refused.status, 429);
    assertEquals(refused.headers.get("retry-after"), "1");
    assertEquals(refused.headers.get("ratelimit-policy"), '"sprox";q=5;w=5');
    assertMatch(refused.headers.get("ratelimit") ?? "", /^"sprox";r=0;t=[1-9]\d*$/);
    const body = await refused.json();
    assertEquals(body.error, "rate_limited");

    // After Retry-After seconds one token is back.
    await new Promise((r) => setTimeout(r, 1000));
    assertEquals((await get(port, "/ip")).status, 200);

    const line = await sprox.waitForLog((l) => l.msg === "request" && l.status === 429);
    assertEquals(line.outcome, "rate_limited");
  } finally {
    await sprox.stop();
  }
});

Deno.test("a burst of 50 from one client yields 429s while another client is unaffected", async () => {
  const port = freePort();
  const sprox = await startSprox(config(port, "  enabled: true")); // spec defaults: 10/s, burst 20
  try {
    // Loopback is a trusted proxy by default, so X-Forwarded-For names the client.
    const a = { "x-forwarded-for": "203.0.113.10" };
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () => get(port, "/ip", a).then((r) => r.status)),
    );
    const refused = statuses.filter((s) => s === 429).length;
    // 20 pass at once, plus the few tokens that refill while the burst is in flight.
    assert(refused >= 10, `expected the burst to be refused, got ${refused} 429s`);
    assertEquals(statuses.filter((s) => s === 200).length + refused, 50);
    const b = await get(port, "/ip", { "x-forwarded-for": "203.0.113.20" });
    assertEquals(b.status, 200);
    // The first client is still held back: a second burst outruns the refill (10 tokens a
    // second) however long the requests above took on a loaded machine.
    const again = await Promise.all(Array.from({ length: 30 }, () => get(port, "/ip", a)));
    const limited = again.filter((r) => r.status === 429);
    assert(limited.length >= 5, `expected the second burst to be refused, got ${limited.length}`);
    assertEquals(limited.length + again.filter((r) => r.status === 200).length, 30);
    for (const r of limited) assertEquals(r.headers.get("retry-after"), "1");
    // Exempt paths never count.
    for (let i = 0; i < 30; i++) assertEquals((await get(port, "/health", a)).status, 200);
  } finally {
    await sprox.stop();
  }
});

Deno.test("forwarding headers from an untrusted peer do not pick the bucket", async () => {
  const port = freePort();
  const sprox = await startSprox(
    config(port, "  requests_per_second: 1\n  burst: 2", "client_ip:\n  trusted_proxies: []"),
  );
  try {
    assertEquals((await get(port, "/ip", { "x-forwarded-for": "198.51.100.1" })).status, 200);
    assertEquals((await get(port, "/ip", { "x-forwarded-for": "198.51.100.2" })).status, 200);
    const spoofed = await get(port, "/ip", { "x-forwarded-for": "198.51.100.3" });
    assertEquals(spoofed.status, 429, "a spoofed X-Forwarded-For must not buy a new bucket");
  } finally {
    await sprox.stop();
  }
});

Deno.test("key header:<name> gives each header value its own bucket", async () => {
  const port = freePort();
  const sprox = await startSprox(
    config(port, '  requests_per_second: 1\n  burst: 1\n  key: "header:x-client-id"'),
  );
  try {
    assertEquals((await get(port, "/ip", { "x-client-id": "alpha" })).status, 200);
    assertEquals((await get(port, "/ip", { "x-client-id": "alpha" })).status, 429);
    assertEquals((await get(port, "/ip", { "x-client-id": "beta" })).status, 200);
  } finally {
    await sprox.stop();
  }
});

Deno.test("a reload keeps the buckets when the knobs are unchanged and resets them otherwise", async () => {
  const port = freePort();
  const knobs = "  requests_per_second: 0.1\n  burst: 2";
  const sprox = await startSprox(config(port, knobs));
  try {
    await get(port, "/ip");
    await get(port, "/ip");
    assertEquals((await get(port, "/ip")).status, 429);

    // Same knobs (another key changes so the file differs): still refused.
    await Deno.writeTextFile(sprox.configPath, config(port, knobs, "cors:\n  max_age_secs: 5"));
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    assertEquals((await get(port, "/ip")).status, 429);

    // New knobs: fresh buckets.
    await Deno.writeTextFile(
      sprox.configPath,
      config(port, "  requests_per_second: 0.1\n  burst: 3"),
    );
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) =>
      l.msg === "config reloaded" &&
      sprox.logs.filter((x) => x.msg === "config reloaded").length === 2
    );
    assertEquals((await get(port, "/ip")).status, 200);
  } finally {
    await sprox.stop();
  }
});
