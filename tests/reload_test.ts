import assert from "node:assert/strict";
import { deadline, freePort, type SproxProcess, startSprox, withTimeout } from "./_support/mod.ts";

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
  const response = await fetch(url, { signal: deadline(15_000) });
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
    const health = await fetch(`http://127.0.0.1:${first}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();

    await Deno.writeTextFile(
      sprox.configPath,
      `routes:${route("one", first, origin.port)}${route("two", second, origin.port)}\n`,
    );
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    const added = await fetch(`http://127.0.0.1:${second}/health`, { signal: deadline() });
    assert.equal(added.status, 200);
    await added.body?.cancel();

    assert.equal(
      await withTimeout(inFlight, 15_000, "the download across two reloads"),
      CHUNK * CHUNKS,
      "the download across two reloads is complete",
    );

    const metrics = await (await fetch(`http://127.0.0.1:${second}/metrics`, {
      signal: deadline(),
    })).text();
    assert.match(metrics, /sprox_config_reloads_total\{outcome="failure"\} 1/);
    assert.match(metrics, /sprox_config_reloads_total\{outcome="success"\} 1/);

    // Removing a route closes its listener.
    await Deno.writeTextFile(sprox.configPath, `routes:${route("two", second, origin.port)}\n`);
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "listener closed");
    await assert.rejects(fetch(`http://127.0.0.1:${first}/health`, { signal: deadline() }));
  } finally {
    await sprox.stop();
    await withTimeout(origin.server.shutdown(), 10_000, "the origin to shut down");
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
    assert.equal(await withTimeout(inFlight, 15_000, "the draining download"), CHUNK * CHUNKS);
    assert.equal(await code, 0);
  } finally {
    await withTimeout(origin.server.shutdown(), 10_000, "the origin to shut down");
  }
});

/** Starts sprox on one route, then SIGHUPs a config adding a listener on a port another process holds. */
async function reloadOntoTakenPort(
  check: (sprox: SproxProcess, first: number, taken: number) => Promise<void>,
): Promise<void> {
  const origin = slowOrigin();
  const first = freePort();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (squatter.addr as Deno.NetAddr).port;
  const sprox = await startSprox(`routes:${route("one", first, origin.port)}\n`);
  try {
    await Deno.writeTextFile(
      sprox.configPath,
      `routes:${route("one", first, origin.port)}${route("two", taken, origin.port)}\n`,
    );
    sprox.kill("SIGHUP");
    // Either outcome ends the wait; the checks tell them apart.
    await sprox.waitForLog(
      (l) => l.msg === "keeping the previous configuration" || l.msg === "config reloaded",
      10_000,
    );
    await check(sprox, first, taken);
  } finally {
    await sprox.stop();
    squatter.close();
    await withTimeout(origin.server.shutdown(), 10_000, "the origin to shut down");
  }
}

Deno.test("SIGHUP: a listener that cannot bind fails the reload; the old config keeps serving", async () => {
  await reloadOntoTakenPort(async (sprox, first) => {
    const failures = sprox.logs.filter((l) => l.msg === "reload rejected");
    assert.equal(failures.length, 1, JSON.stringify(sprox.logs));
    assert.equal(failures[0].level, "error");
    // The edge may word it with or without the address; the address is checked below.
    assert.match(String(failures[0].error), /address already in use/i);
    assert.deepEqual(sprox.logs.filter((l) => l.msg === "config reloaded"), []);
    const kept = sprox.logs.find((l) => l.msg === "keeping the previous configuration");
    assert.equal(kept?.hash, sprox.logs.find((l) => l.msg === "sprox started")!.hash);

    const health = await fetch(`http://127.0.0.1:${first}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const metrics = await (await fetch(`http://127.0.0.1:${first}/metrics`, {
      signal: deadline(),
    })).text();
    assert.match(metrics, /\nsprox_config_reloads_total\{outcome="failure"\} 1\n/);
    assert.doesNotMatch(metrics, /sprox_config_reloads_total\{outcome="success"\}/);
    // A second, good reload still works: the failed one left nothing half-bound.
    await Deno.writeTextFile(sprox.configPath, `routes:${route("one", first, 9)}\n`);
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded", 10_000);
  });
});

Deno.test("SIGHUP: the reload failure names the address that could not be bound", async () => {
  await reloadOntoTakenPort((sprox, _first, taken) => {
    // Any error line of the failed reload may carry it (the rejection or a bind failure).
    const requested = sprox.logs.findIndex((l) => l.msg === "reload requested (SIGHUP)");
    const errors = sprox.logs.slice(requested).filter((l) => l.level === "error");
    assert.ok(errors.length > 0, JSON.stringify(sprox.logs));
    assert.match(JSON.stringify(errors), new RegExp(`127\\.0\\.0\\.1:${taken}\\b`));
    return Promise.resolve();
  });
});
