import assert from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

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
    const response = await fetch(`http://127.0.0.1:${port}/file.bin`);
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
