import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

/**
 * An origin that announces `declared` bytes and sends half: on `/dies` it then fails, on any
 * other path it sends nothing more and never ends.
 */
function brokenBodyOrigin(declared: number) {
  return startOrigin((request) => {
    const dies = new URL(request.url).pathname === "/dies";
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(declared / 2).fill(1));
        if (dies) setTimeout(() => controller.error(new Error("origin died")), 50);
      },
    });
    return new Response(body, { headers: { "content-length": String(declared) } });
  });
}

Deno.test("a client that pauses longer than read_timeout_ms is backpressure, not an idle upstream", async () => {
  const size = 8 * 1024 * 1024;
  const origin = await startOrigin(() => new Response(new Uint8Array(size).fill(7)));
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: slow-reader
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 300 }
rate_limit: { enabled: false }
`);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/file.bin`, { signal: deadline() });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    let total = (await reader.read()).value!.byteLength;
    // Far longer than the read timeout: buffers fill and the proxy stops pulling upstream.
    await new Promise((r) => setTimeout(r, 1200));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    assert.equal(total, size);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("a streamed body (over 64 KiB) that stalls or dies mid-way ends the client response visibly", async (t) => {
  const declared = 100_000;
  const origin = await brokenBodyOrigin(declared);
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: small-body
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 400, retry: { max_attempts: 1 } }
rate_limit: { enabled: false }
`);
  const readAll = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: deadline() });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), String(declared));
    let total = 0;
    try {
      for await (const chunk of response.body!) total += chunk.byteLength;
    } catch {
      return { total, failed: true };
    }
    return { total, failed: false };
  };
  try {
    await t.step("a stall past read_timeout_ms aborts the response", async () => {
      const { total, failed } = await readAll("/stalls");
      assert.ok(failed, `the body ended as if complete after ${total} bytes`);
      assert.ok(total < declared);
      await sprox.waitForLog((l) =>
        l.msg === "upstream body failed; client response aborted" && l.reason === "read_timeout"
      );
    });
    await t.step("an origin dying mid-body aborts the response", async () => {
      const { total, failed } = await readAll("/dies");
      assert.ok(failed, `the body ended as if complete after ${total} bytes`);
      assert.ok(total < declared);
    });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("a small body (read whole before answering) that stalls or dies is a 504 or 502", async () => {
  const declared = 20_000;
  const origin = await brokenBodyOrigin(declared);
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: small
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 400, retry: { max_attempts: 1 } }
rate_limit: { enabled: false }
`);
  try {
    const stalled = await fetch(`http://127.0.0.1:${port}/stalls`, { signal: deadline() });
    assert.equal(stalled.status, 504);
    assert.equal((await stalled.json()).error, "upstream_read_timeout");
    const died = await fetch(`http://127.0.0.1:${port}/dies`, { signal: deadline() });
    assert.equal(died.status, 502);
    await died.body?.cancel();
    const complete = await fetch(`http://127.0.0.1:${port}/dies`, {
      method: "HEAD",
      signal: deadline(),
    });
    assert.equal(complete.headers.get("content-length"), String(declared));
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
