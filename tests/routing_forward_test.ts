import assert from "node:assert/strict";
import { ConfigSchema } from "../src/config/mod.ts";
import { inMemoryBody } from "../src/net/mod.ts";
import {
  buildClientResponse,
  ClientPool,
  compileRoutes,
  forwardToRoute,
} from "../src/routing/mod.ts";
import { withTimeout } from "./_support/timeout.ts";

/** An origin on loopback answering `/small` (2 KiB) and `/big` (200 KiB) with hop-by-hop fields. */
function startOrigin() {
  const small = new Uint8Array(2048).fill(0x61);
  const big = new Uint8Array(200 * 1024).fill(0x62);
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const body = new URL(request.url).pathname === "/small" ? small : big;
    return new Response(body, {
      headers: {
        "content-type": "application/octet-stream",
        connection: "x-hop",
        "x-hop": "secret",
        "proxy-authenticate": "Basic",
        via: "1.1 cdn",
      },
    });
  });
}

/** The one route of these tests: every host, to the loopback origin on `port`. */
function routeTo(port: number, pool: ClientPool) {
  const config = ConfigSchema.parse({
    routes: [{
      id: "r",
      host_patterns: ["*"],
      listen: { host: "127.0.0.1", port: 8080 },
      upstream: { origin: `http://127.0.0.1:${port}` },
    }],
  });
  return compileRoutes(config, pool).routes[0];
}

/** A plain-HTTP client on loopback, as `forwardToRoute` takes it. */
const LOOPBACK_CLIENT = { peerIp: "127.0.0.1", clientIp: "127.0.0.1", protocol: "http" } as const;

for (
  const [path, length, inMemory] of [["/small", 2048, true], ["/big", 200 * 1024, false]] as const
) {
  Deno.test(`forwardToRoute() + buildClientResponse(): ${path} answered client-ready once`, async () => {
    const origin = startOrigin();
    const pool = new ClientPool();
    try {
      const route = routeTo(origin.addr.port, pool);
      const request = new Request(`http://tv.test${path}`, { headers: { host: "tv.test" } });
      const forwarded = await withTimeout(
        forwardToRoute(request, route, LOOPBACK_CLIENT),
        10_000,
        "forward",
      );
      assert.equal(forwarded.response.status, 200);
      assert.equal(inMemoryBody(forwarded.response) !== undefined, inMemory);
      const client = buildClientResponse(forwarded.response);
      assert.equal(client.headers.get("x-hop"), null);
      assert.equal(client.headers.get("connection"), null);
      assert.equal(client.headers.get("proxy-authenticate"), null);
      assert.equal(client.headers.get("via"), "1.1 cdn, 1.1 sprox");
      assert.equal(client.headers.get("content-type"), "application/octet-stream");
      const bytes = await withTimeout(client.bytes(), 10_000, "body");
      assert.equal(bytes.byteLength, length);
      assert.equal(bytes[0], path === "/small" ? 0x61 : 0x62);
    } finally {
      pool.close();
      await origin.shutdown();
    }
  });
}

Deno.test("upstream connections are reused across bursts of concurrent requests (no churn past 32)", async () => {
  const BURST = 48;
  const ports = new Set<number>();
  let waiting: (() => void)[] = [];
  // Each request is held until the whole burst has arrived: the burst needs BURST connections.
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_, info) => {
    ports.add(info.remoteAddr.port);
    return new Promise<Response>((resolve) => {
      waiting.push(() => resolve(new Response("ok")));
      if (waiting.length === BURST) {
        const release = waiting;
        waiting = [];
        for (const go of release) go();
      }
    });
  });
  const pool = new ClientPool();
  try {
    const route = routeTo(origin.addr.port, pool);
    const burst = () =>
      withTimeout(
        Promise.all(Array.from({ length: BURST }, async (_, i) => {
          const request = new Request(`http://tv.test/c/${i}`, { headers: { host: "tv.test" } });
          const forwarded = await forwardToRoute(request, route, LOOPBACK_CLIENT);
          return [forwarded.response.status, await forwarded.response.text()];
        })),
        10_000,
        "a burst of concurrent requests",
      );
    assert.deepEqual(await burst(), Array(BURST).fill([200, "ok"]));
    assert.equal(ports.size, BURST, "the first burst opens one connection per request");
    // Let the client put the connections back into its pool.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await burst(), Array(BURST).fill([200, "ok"]));
    // With 32 idle connections kept, the second burst would open 16 new ones.
    assert.ok(ports.size <= BURST + 2, `the second burst reuses them (${ports.size} in all)`);
  } finally {
    pool.close();
    await origin.shutdown();
  }
});
