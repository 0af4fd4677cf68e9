/**
 * A large body streamed through a route arrives byte-exact, in both directions.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";
import { checkPattern, patternStream, startOrigin } from "./_support/origins.ts";

const SIZE = 96 * 1024 * 1024;

Deno.test("96 MiB download and upload stream through a route byte-exact", async () => {
  let uploaded = { bytes: 0, mismatches: -1 };
  const origin = await startOrigin(async (request) => {
    if (request.method === "PUT") {
      uploaded = await checkPattern(request.body!);
      return new Response("stored");
    }
    return new Response(patternStream(SIZE), { headers: { "content-length": String(SIZE) } });
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
  try {
    const down = await fetch(`http://127.0.0.1:${port}/big.bin`, { signal: deadline(60_000) });
    assert.equal(down.status, 200);
    assert.equal(down.headers.get("content-length"), String(SIZE));
    assert.deepEqual(await checkPattern(down.body!), { bytes: SIZE, mismatches: 0 });

    const up = await fetch(`http://127.0.0.1:${port}/upload.bin`, {
      method: "PUT",
      body: patternStream(SIZE / 4),
      signal: deadline(60_000),
    });
    assert.equal(await up.text(), "stored");
    assert.deepEqual(uploaded, { bytes: SIZE / 4, mismatches: 0 });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
