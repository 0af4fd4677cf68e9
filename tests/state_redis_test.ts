/**
 * Rate-limit buckets shared through Redis (`state.redis_url`), over real sockets: two sProx
 * processes and one real `redis-server` on loopback. The two instances spend one bucket per
 * client; when Redis goes away mid-test each instance falls back to its own buckets (still
 * limiting), logs one warning and counts `sprox_state_fallback_total`.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { deadline, freePort, type SproxProcess, startSprox, withTimeout } from "./_support/mod.ts";
import { redisCommand, startRedis } from "./_support/redis.ts";

const FALLBACK_WARNING = "shared state unreachable; rate limiting with local buckets";

/** Sends one command in RESP and returns the raw reply (small replies only). */
function config(port: number, redisPort: number): string {
  return `routes:
  - id: edge
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["edge.test"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit:
  requests_per_second: 0.1
  burst: 5
state:
  redis_url: "redis://127.0.0.1:${redisPort}"
`;
}

/** GET /ip as `client` (X-Forwarded-For from loopback, a trusted proxy by default). */
async function get(
  port: number,
  client: string,
): Promise<{ status: number; ratelimit: string | null }> {
  const response = await fetch(`http://127.0.0.1:${port}/ip`, {
    headers: { "x-forwarded-for": client },
    signal: deadline(),
  });
  await response.body?.cancel();
  return { status: response.status, ratelimit: response.headers.get("ratelimit") };
}

async function metrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() });
  return await response.text();
}

/** Sends requests as a throwaway client until its bucket shows up in Redis (connected). */
async function waitUntilShared(port: number, redisPort: number, client: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    assertEquals((await get(port, client)).status, 200);
    if ((await redisCommand(redisPort, "EXISTS", `sprox:rl:ip:${client}`)) === ":1\r\n") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`instance on port ${port} never wrote its bucket to Redis`);
}

Deno.test("two instances share one Redis bucket, and fall back to local buckets when Redis stops", async () => {
  const redis = await startRedis();
  let redisRunning = true;
  const instances: SproxProcess[] = [];
  try {
    const ports = [freePort(), freePort()];
    for (const port of ports) instances.push(await startSprox(config(port, redis.port)));
    await waitUntilShared(ports[0], redis.port, "198.51.100.1");
    await waitUntilShared(ports[1], redis.port, "198.51.100.2");

    // Ten requests of one client, alternating between the instances: the burst of 5 is spent
    // once across both (0.1 token/s refills nothing meanwhile).
    const client = "203.0.113.9";
    const seen: { status: number; ratelimit: string | null }[] = [];
    for (let i = 0; i < 10; i++) seen.push(await get(ports[i % 2], client));
    assertEquals(seen.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    // The tokens left count down across the instances: one bucket, not two.
    assertEquals(
      seen.slice(0, 5).map((r) => r.ratelimit?.split(";")[1]),
      ["r=4", "r=3", "r=2", "r=1", "r=0"],
    );
    const ttl = Number((await redisCommand(redis.port, "PTTL", `sprox:rl:ip:${client}`)).slice(1));
    assert(ttl > 40_000 && ttl <= 51_000, `bucket TTL is burst / rate + 1 s: ${ttl} ms`);
    for (const port of ports) {
      const text = await metrics(port);
      assert(/^sprox_state_fallback_total 0$/m.test(text), text);
      assert(/^sprox_rate_limited_requests_total [1-9]\d*$/m.test(text), text);
    }

    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    redisRunning = false;

    // Still answered, and still limited: the first instance's own bucket for a new client
    // admits the burst of 5 and refuses the sixth.
    const fallbackClient = "203.0.113.50";
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(ports[0], fallbackClient)).status);
    assertEquals(statuses, [200, 200, 200, 200, 200, 429]);
    // The other instance's local bucket for the client refused above starts full.
    assertEquals((await get(ports[1], client)).status, 200);

    const warning = await instances[0].waitForLog((l) => l.msg === FALLBACK_WARNING, 5_000);
    assertEquals(warning.level, "warn");
    await instances[1].waitForLog((l) => l.msg === FALLBACK_WARNING, 5_000);
    assertEquals(
      instances[0].logs.filter((l) => l.msg === FALLBACK_WARNING).length,
      1,
      "one warning per 10 s, not one per request",
    );
    assert(/^sprox_state_fallback_total 6$/m.test(await metrics(ports[0])));
    assert(/^sprox_state_fallback_total 1$/m.test(await metrics(ports[1])));

    for (const instance of instances.splice(0)) assertEquals(await instance.stop(), 0);
  } finally {
    for (const instance of instances) await instance.stop().catch(() => {});
    if (redisRunning) {
      redis.process.kill("SIGKILL");
      await redis.process.status;
    }
  }
});
