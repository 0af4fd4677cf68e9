/**
 * The shared key tier's write-back, driven directly against a real `redis-server`: two secret
 * stores (two instances' worth) on one Redis, which restarts empty. The store that added a key
 * at run time writes it back; a store holding only a copy does not (the key may have been
 * removed elsewhere meanwhile); a value written since the restart is never replaced.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { SecretStore } from "../src/secrets/mod.ts";
import { loadRedisDriver, RedisKeyStore } from "../src/state/mod.ts";
import { redisCall, startRedis } from "./_support/redis.ts";
import { scratchDir, withTimeout } from "./_support/mod.ts";

const AES_KEY = "3e".repeat(32);
const id = (n: number) => `clearkey:${n.toString(16).padStart(32, "0")}`;
const bytes = (n: number) => new Uint8Array(16).fill(n);

/** Polls until `store`'s connection is ready (reconnecting after a restart takes up to 2 s). */
async function connected(tier: RedisKeyStore): Promise<void> {
  const until = Date.now() + 20_000;
  while (!tier.ready) {
    if (Date.now() > until) throw new Error("the Redis connection did not come back in 20 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs write-back rounds until one goes through: on a loaded machine a command can exceed the
 * 50 ms timeout, which fails that round (the next one repeats it).
 */
async function writtenBack(store: SecretStore, what: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    if (await withTimeout(store.shared!.writeBack(), 5_000, what)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: no write-back round went through`);
}

Deno.test("write-back after a restart: the adder restores its keys, never over a newer value; a copy's holder does not", async () => {
  await loadRedisDriver();
  const dir = await scratchDir();
  // Persistent first (a restart keeps the data), then restarted empty.
  let redis = await startRedis({ dir });
  const port = redis.port;
  const restart = async (options: { dir?: string }) => {
    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    redis = await startRedis({ port, ...options });
  };
  // One connection per URL per process: the second "instance" spells it another way.
  const tierA = new RedisKeyStore(`redis://127.0.0.1:${port}`, AES_KEY);
  const tierB = new RedisKeyStore(`redis://127.0.0.1:${port}/0`, AES_KEY);
  const a = new SecretStore({ defaultTtlSecs: 300, sweepIntervalMs: 0, shared: tierA });
  const b = new SecretStore({ defaultTtlSecs: 300, sweepIntervalMs: 0, shared: tierB });
  const redisKey = (n: number) => `sprox:key:${id(n)}`;
  try {
    await connected(tierA);
    await connected(tierB);
    // Each store learns the server's run at its first ready connection.
    await writtenBack(a, "A's first write-back");
    await writtenBack(b, "B's first write-back");

    // A adds 1 and 2; B copies 1 (a lookup) and adds 3 itself.
    for (const n of [1, 2]) {
      a.set(id(n), bytes(n), { ttlSecs: 600, source: "runtime" });
      assertEquals(await a.shared!.put(id(n), bytes(n), 600), { ok: true, existed: false });
    }
    assertEquals(await b.shared!.fetch(id(1)), bytes(1));
    assertEquals(b.info(id(1))!.source, "shared");
    b.set(id(3), bytes(3), { ttlSecs: 600, source: "runtime" });
    assertEquals(await b.shared!.put(id(3), bytes(3), 600), { ok: true, existed: false });

    // Someone replaced 2; Redis restarts with its data: A's restore (a new run_id) keeps it.
    await redisCall(port, "SET", redisKey(2), "v1.written-after", "PX", "600000");
    await restart({ dir });
    await connected(tierA);
    await writtenBack(a, "A's write-back");
    assertEquals(await redisCall(port, "GET", redisKey(2)), "v1.written-after");

    // Redis restarts empty: A writes back what it added (with the lifetime left).
    await restart({});
    await connected(tierA);
    await writtenBack(a, "A's write-back");
    const one = await tierA.get(id(1));
    assertEquals(one?.value, bytes(1));
    assert(one!.ttlMs > 590_000 && one!.ttlMs <= 600_000, `ttl ${one!.ttlMs}`);
    assertEquals((await tierA.get(id(2)))?.value, bytes(2));
    await connected(tierB);
    await writtenBack(b, "B's write-back");
    assertEquals((await tierB.get(id(3)))?.value, bytes(3));

    // A is gone; Redis restarts empty: B restores its own key 3, not its copy of A's 1.
    a.dispose();
    await restart({});
    await connected(tierB);
    await writtenBack(b, "B's write-back");
    assertEquals((await tierB.get(id(3)))?.value, bytes(3));
    assertEquals(await redisCall(port, "EXISTS", redisKey(1)), 0);
    assertEquals(await redisCall(port, "EXISTS", redisKey(2)), 0);
  } finally {
    a.dispose();
    b.dispose();
    redis.process.kill("SIGKILL");
    await redis.process.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
