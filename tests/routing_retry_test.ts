/**
 * Retries over real sockets: an origin that fails N times, non-idempotent requests, and
 * the retry metrics.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";
import { hostClient, startOrigin } from "./_support/origins.ts";

Deno.test("retries idempotent requests on 5xx and connection failures, within max_attempts", async (t) => {
  let calls = 0;
  let failFirst = 2;
  const flaky = await startOrigin(async (request) => {
    calls++;
    await request.body?.cancel();
    if (calls <= failFirst) return new Response("busy", { status: 503 });
    return new Response(`ok after ${calls}`);
  });
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: flaky
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origin: "${flaky.url}"
      retry: { max_attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 100 }
`);
  const client = hostClient();
  try {
    await t.step("fails twice, succeeds on the third attempt", async () => {
      calls = 0;
      failFirst = 2;
      const r = await fetch(`http://127.0.0.1:${port}/a`, { client, signal: deadline() });
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "ok after 3");
      assert.equal(calls, 3);
    });

    await t.step("fails more often than max_attempts: the last 503 is passed through", async () => {
      calls = 0;
      failFirst = 10;
      const r = await fetch(`http://127.0.0.1:${port}/b`, { client, signal: deadline() });
      assert.equal(r.status, 503);
      assert.equal(await r.text(), "busy");
      assert.equal(calls, 3);
    });

    await t.step("a POST is never retried", async () => {
      calls = 0;
      failFirst = 1;
      const r = await fetch(`http://127.0.0.1:${port}/c`, {
        client,
        method: "POST",
        body: "x",
        signal: deadline(),
      });
      assert.equal(r.status, 503);
      await r.body?.cancel();
      assert.equal(calls, 1);
    });

    await t.step("retries are logged and counted", async () => {
      await sprox.waitForLog((l) => l.msg === "retrying upstream request" && l.status === 503);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
        .text();
      assert.match(text, /sprox_upstream_retries_total\{scope="flaky"\} 4/);
    });
  } finally {
    client.close();
    await sprox.stop();
    await flaky.close();
  }
});

Deno.test("retries a refused connection until the origin comes up", async () => {
  const originPort = freePort();
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: late
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origin: "http://127.0.0.1:${originPort}"
      retry: { max_attempts: 5, initial_backoff_ms: 150, max_backoff_ms: 300, jitter: 0 }
`);
  let origin: Deno.HttpServer | undefined;
  // The origin appears after the first attempt was refused.
  const waiting = sprox.waitForLog((l) =>
    l.msg === "retrying upstream request" && l.reason === "refused"
  )
    .then(() => {
      origin = Deno.serve(
        { hostname: "127.0.0.1", port: originPort, onListen() {} },
        () => new Response("up"),
      );
    });
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: deadline() });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "up");
    await withTimeout(waiting, 10_000, "the refused attempt's retry log line");
  } finally {
    await sprox.stop();
    if (origin) await withTimeout(origin.shutdown(), 10_000, "the late origin to shut down");
  }
});

Deno.test("an exhausted retry budget stops retries and is counted", async () => {
  let calls = 0;
  const origin = await startOrigin(() => {
    calls++;
    return new Response("busy", { status: 503 });
  });
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
retry_budget: { ratio: 0, min_retries_per_sec: 0 }
routes:
  - id: spent
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`);
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: deadline() });
    assert.equal(r.status, 503);
    await r.body?.cancel();
    assert.equal(calls, 1);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
      .text();
    assert.match(text, /sprox_retry_budget_exhausted_total\{scope="spent"\} 1/);
    await sprox.waitForLog((l) =>
      l.msg.startsWith("retry budget exhausted") && l.scope === "spent"
    );
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
