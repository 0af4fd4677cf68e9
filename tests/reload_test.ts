import assert from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";

const CHUNK = 64 * 1024;
const CHUNKS = 48;

/** An origin that trickles a 3 MiB body over about 1.5 s, so a download spans a reload. */
function slowOrigin(): { port: number; server: Deno.HttpServer } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 30));
        controller.enqueue(new Uint8Array(CHUNK).fill(sent % 251));
        if (++sent === CHUNKS) controller.close();
      },
    });
    return new Response(body, { headers: { "content-length": String(CHUNK * CHUNKS) } });
  });
  return { port: server.addr.port, server };
}

function route(id: string, port: number, origin: number): string {
  return `
  - id: ${id}
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${origin}" }`;
}

async function download(url: string): Promise<number> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  let total = 0;
  for await (const chunk of response.body!) total += chunk.byteLength;
  return total;
}

Deno.test("SIGHUP: a broken file keeps the old config, a good one adds a listener, downloads survive", async () => {
  const origin = slowOrigin();
  const first = freePort();
  const second = freePort();
  const sprox = await startSprox(`routes:${route("one", first, origin.port)}\n`);
  try {
    const inFlight = download(`http://127.0.0.1:${first}/big.bin`);
    await new Promise((r) => setTimeout(r, 200));

    await Deno.writeTextFile(
      sprox.configPath,
      `routes:${route("one", first, origin.port)}\n    listen_typo: true\n`,
    );
    sprox.kill("SIGHUP");
    const rejected = await sprox.waitForLog((l) => l.msg === "reload rejected: config error");
    assert.match(String(rejected.detail), /listen_typo/);
    await sprox.waitForLog((l) => l.msg === "keeping the previous configuration");
    const health = await fetch(`http://127.0.0.1:${first}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();

    await Deno.writeTextFile(
      sprox.configPath,
      `routes:${route("one", first, origin.port)}${route("two", second, origin.port)}\n`,
    );
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    const added = await fetch(`http://127.0.0.1:${second}/health`);
    assert.equal(added.status, 200);
    await added.body?.cancel();

    assert.equal(await inFlight, CHUNK * CHUNKS, "the download across two reloads is complete");

    const metrics = await (await fetch(`http://127.0.0.1:${second}/metrics`)).text();
    assert.match(metrics, /sprox_config_reloads_total\{outcome="failure"\} 1/);
    assert.match(metrics, /sprox_config_reloads_total\{outcome="success"\} 1/);

    // Removing a route closes its listener.
    await Deno.writeTextFile(sprox.configPath, `routes:${route("two", second, origin.port)}\n`);
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "listener closed");
    await assert.rejects(fetch(`http://127.0.0.1:${first}/health`));
  } finally {
    await sprox.stop();
    await origin.server.shutdown();
  }
});

Deno.test("SIGTERM drains an in-flight download, then the process exits 0", async () => {
  const origin = slowOrigin();
  const port = freePort();
  const sprox = await startSprox(`routes:${route("drain", port, origin.port)}\n`);
  try {
    const inFlight = download(`http://127.0.0.1:${port}/big.bin`);
    await new Promise((r) => setTimeout(r, 200));
    const code = sprox.stop();
    assert.equal(await inFlight, CHUNK * CHUNKS);
    assert.equal(await code, 0);
  } finally {
    await origin.server.shutdown();
  }
});
