/**
 * The shared key tier's write-back, driven directly against a real `redis-server`: two secret
 * stores (two instances' worth) on one Redis, which restarts with its data, is flushed, then
 * restarts empty. Only lost data is written back: a key Redis confirmed at most 5 s before the
 * loss; not an older copy (the key may have been removed elsewhere meanwhile); never over a
 * value written since. And lookups never undo a change on its way to Redis: a write in
 * flight, a removal owed since an outage, or (in a worker isolate's store) a change the first
 * isolate told of or still owes.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { SecretStore } from "../src/secrets/mod.ts";
import { loadRedisDriver, RedisKeyStore } from "../src/state/mod.ts";
import { redisCall, startRedis } from "./_support/redis.ts";
import { freePort, scratchDir, withTimeout } from "./_support/mod.ts";

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

/** Polls until `tier`'s connection is seen closed. */
async function disconnected(tier: RedisKeyStore): Promise<void> {
  const until = Date.now() + 20_000;
  while (tier.ready) {
    if (Date.now() > until) throw new Error("the Redis connection was not seen closed in 20 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("write-back after Redis lost its data: keys confirmed within the hold come back, never over a newer value; older copies and surviving data are left alone", async () => {
  await loadRedisDriver();
  const dir = await scratchDir();
  // Persistent first (a restart keeps the data), then restarted empty.
  let redis = await startRedis({ dir });
  const port = redis.port;
  const restart = async (options: { dir?: string; downForMs?: number }) => {
    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    if (options.downForMs) {
      // Once both stores saw the connection close, the outage lasts this long on their clock.
      await disconnected(tierA);
      await disconnected(tierB);
      clock += options.downForMs;
      // Real time too, for the clients' reconnection attempts (after 200 and 400 ms) to fail.
      await new Promise((r) => setTimeout(r, 1_000));
    }
    redis = await startRedis({ port, dir: options.dir });
  };
  // Both stores run on one clock the test moves: "confirmed within 5 s of the loss" is exact.
  let clock = 1_000_000;
  const now = () => clock;
  // One connection per URL per process: the second "instance" spells it another way.
  const tierA = new RedisKeyStore(`redis://127.0.0.1:${port}`, AES_KEY);
  const tierB = new RedisKeyStore(`redis://127.0.0.1:${port}/0`, AES_KEY);
  const a = new SecretStore({ defaultTtlSecs: 300, sweepIntervalMs: 0, now, shared: tierA });
  const b = new SecretStore({ defaultTtlSecs: 300, sweepIntervalMs: 0, now, shared: tierB });
  const redisKey = (n: number) => `sprox:key:${id(n)}`;
  const bothWrittenBack = async () => {
    await connected(tierA);
    await connected(tierB);
    await writtenBack(a, "A's write-back");
    await writtenBack(b, "B's write-back");
  };
  try {
    // Each store learns the server's run at its first ready connection.
    await bothWrittenBack();

    // A adds 1, 2, 4 and 5; B copies 1 (a lookup) and adds 3 itself.
    for (const n of [1, 2, 4, 5]) {
      a.set(id(n), bytes(n), { ttlSecs: 600, source: "runtime" });
      assertEquals(await a.shared!.put(id(n), bytes(n), 600), { ok: true, existed: false });
    }
    assertEquals(await b.shared!.fetch(id(1)), bytes(1));
    assertEquals(b.info(id(1))!.source, "shared");
    b.set(id(3), bytes(3), { ttlSecs: 600, source: "runtime" });
    assertEquals(await b.shared!.put(id(3), bytes(3), 600), { ok: true, existed: false });

    // Redis restarts with its data: the key set's generation survives and nothing is written
    // back, so a key removed meanwhile (5, by hand here) stays removed.
    await redisCall(port, "DEL", redisKey(5));
    await restart({ dir });
    await bothWrittenBack();
    assertEquals(await redisCall(port, "EXISTS", redisKey(5)), 0);

    // 6 s later 1, 2 and 3 are looked up again (keys in use), 4 is not. Redis loses its data on
    // the live connection (a flush) and 2 is written anew: 1 and 3 come back with the lifetime
    // they have left, 2 keeps the value written since, and 4 (confirmed 6 s before the loss)
    // does not come back: it may have been removed elsewhere meanwhile.
    clock += 6_000;
    for (const n of [1, 2]) assertEquals(await a.shared!.fetch(id(n)), bytes(n));
    assertEquals(await b.shared!.fetch(id(3)), bytes(3));
    await redisCall(port, "FLUSHALL");
    await redisCall(port, "SET", redisKey(2), "v1.written-after", "PX", "600000");
    await bothWrittenBack();
    const one = await tierA.get(id(1));
    assertEquals(one?.value, bytes(1));
    assert(one!.ttlMs > 590_000 && one!.ttlMs <= 600_000, `ttl ${one!.ttlMs}`);
    assertEquals(await redisCall(port, "GET", redisKey(2)), "v1.written-after");
    assertEquals((await tierB.get(id(3)))?.value, bytes(3));
    assertEquals(await redisCall(port, "EXISTS", redisKey(4)), 0);

    // 6 s later only 3 is looked up again. Redis restarts empty after 10 s down: 3 comes back
    // (confirmed when the connection was lost, however long the outage); 1, last confirmed 6 s
    // before the loss, does not.
    clock += 6_000;
    assertEquals(await b.shared!.fetch(id(3)), bytes(3));
    await restart({ downForMs: 10_000 });
    await bothWrittenBack();
    assertEquals((await tierB.get(id(3)))?.value, bytes(3));
    assertEquals(await redisCall(port, "EXISTS", redisKey(1)), 0);
    assertEquals(await redisCall(port, "EXISTS", redisKey(2)), 0);
    // B removes 3 (its removal leaves a mark for 60 s), then the key set is seen as lost (its
    // generation removed by hand): A's fresh copy of 3 is not written back over the removal.
    assertEquals(await a.shared!.fetch(id(3)), bytes(3));
    assertEquals(b.delete(id(3)), true);
    assertEquals(await b.shared!.delete(id(3), true), { ok: true, existed: true });
    await redisCall(port, "DEL", "sprox:keyset");
    await writtenBack(a, "A's write-back");
    assertEquals(await redisCall(port, "EXISTS", redisKey(3)), 0);

    // A round cut short (Redis paused past the 50 ms command timeout, its data lost just
    // before) runs again by itself a second later, and restores.
    a.set(id(7), bytes(7), { ttlSecs: 600, source: "runtime" });
    assertEquals(await a.shared!.put(id(7), bytes(7), 600), { ok: true, existed: false });
    await redisCall(port, "FLUSHALL");
    await redisCall(port, "CLIENT", "PAUSE", "300", "ALL");
    assertEquals(await withTimeout(a.shared!.writeBack(), 5_000, "the paused round"), false);
    const until = Date.now() + 20_000;
    while ((await redisCall(port, "EXISTS", redisKey(7))) !== 1) {
      if (Date.now() > until) throw new Error("the cut round was not run again within 20 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals((await tierA.get(id(7)))?.value, bytes(7));

    // Both still serve their copies of 1: held, just not written back.
    assertEquals(a.get(id(1)), bytes(1));
  } finally {
    a.dispose();
    b.dispose();
    redis.process.kill("SIGKILL");
    await redis.process.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("lookups never undo a change on its way to Redis: a replacement in flight, one made while Redis answered, a removal owed since an outage", async () => {
  await loadRedisDriver();
  const dir = await scratchDir();
  let redis = await startRedis({ dir });
  const port = redis.port;
  let clock = 1_000_000;
  const tier = new RedisKeyStore(`redis://127.0.0.1:${port}`, AES_KEY);
  const a = new SecretStore({
    defaultTtlSecs: 300,
    sweepIntervalMs: 0,
    now: () => clock,
    shared: tier,
  });
  try {
    await connected(tier);
    await writtenBack(a, "the first round");
    a.set(id(1), bytes(1), { ttlSecs: 600, source: "runtime" });
    assertEquals(await a.shared!.put(id(1), bytes(1), 600), { ok: true, existed: false });

    // Past the hold, a lookup asks Redis, except while a replacement made here is on its way:
    // its value is served, and Redis ends with it.
    clock += 6_000;
    a.set(id(1), bytes(2), { ttlSecs: 600, source: "runtime" });
    const put = a.shared!.put(id(1), bytes(2), 600);
    assertEquals(await withTimeout(a.shared!.fetch(id(1)), 5_000, "lookup"), bytes(2));
    assertEquals(await withTimeout(put, 5_000, "put"), { ok: true, existed: true });
    assertEquals(a.get(id(1)), bytes(2));
    assertEquals((await tier.get(id(1)))?.value, bytes(2));

    // A lookup that asked Redis before a replacement: its older answer is not applied.
    clock += 6_000;
    const asked = a.shared!.fetch(id(1));
    a.set(id(1), bytes(3), { ttlSecs: 600, source: "runtime" });
    const replaced = a.shared!.put(id(1), bytes(3), 600);
    assertEquals(await withTimeout(asked, 5_000, "lookup"), bytes(3));
    assertEquals(await withTimeout(replaced, 5_000, "put"), { ok: true, existed: true });
    assertEquals(a.get(id(1)), bytes(3));

    // The same for a removal (whose round trip can end before the lookup has opened the value
    // Redis sent): the key stays removed.
    clock += 6_000;
    const before = a.shared!.fetch(id(1));
    assertEquals(a.delete(id(1)), true);
    const removed = a.shared!.delete(id(1), true);
    assertEquals(await withTimeout(before, 5_000, "lookup"), undefined);
    assertEquals(await withTimeout(removed, 5_000, "delete"), { ok: true, existed: true });
    assertEquals(a.info(id(1)), undefined);
    a.set(id(1), bytes(3), { ttlSecs: 600, source: "runtime" });
    assertEquals(await a.shared!.put(id(1), bytes(3), 600), { ok: true, existed: false });

    // Removed while Redis is down: owed. Redis comes back with its data (still holding the
    // key); a lookup sent the moment the connection is ready, before the write-back's removal,
    // finds it removed, and so does Redis once written back.
    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    await disconnected(tier);
    assertEquals(a.delete(id(1)), true);
    assertEquals((await a.shared!.delete(id(1), true)).ok, false);
    assertEquals(a.shared!.owed(), [id(1)]);
    let looked: Promise<Uint8Array | undefined> | undefined;
    const stop = tier.onReady(() => looked ??= a.shared!.fetch(id(1)));
    redis = await startRedis({ port, dir });
    await connected(tier);
    stop();
    assertEquals(await withTimeout(looked!, 5_000, "the lookup on reconnect"), undefined);
    await writtenBack(a, "the removal's write-back");
    assertEquals(await redisCall(port, "EXISTS", `sprox:key:${id(1)}`), 0);
    assertEquals(a.shared!.owed(), []);
    assertEquals(await a.shared!.fetch(id(1)), undefined);
    assertEquals(a.info(id(1)), undefined);
  } finally {
    a.dispose();
    redis.process.kill("SIGKILL");
    await redis.process.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a worker isolate's store follows the first isolate: changes it was told of and keys still owed are served as told, then Redis again", async () => {
  await loadRedisDriver();
  const redis = await startRedis();
  let clock = 1_000_000;
  const now = () => clock;
  // The first isolate cannot reach Redis (nothing listens on its port); the worker can.
  const first = new SecretStore({
    defaultTtlSecs: 300,
    sweepIntervalMs: 0,
    now,
    shared: new RedisKeyStore(`redis://127.0.0.1:${freePort()}`, AES_KEY),
  });
  const tier = new RedisKeyStore(`redis://127.0.0.1:${redis.port}`, AES_KEY);
  const worker = new SecretStore({ defaultTtlSecs: 300, sweepIntervalMs: 0, now, shared: tier });
  const owedSeen: string[][] = [];
  // What the process does between isolates (`src/cli/fleet.ts`, `src/cli/worker.ts`).
  const stopOwed = first.shared!.onOwedChange((ids) => {
    owedSeen.push([...ids]);
    worker.shared!.follow(ids);
  });
  const tell = (n: number, value: Uint8Array | null) => {
    if (value === null) worker.delete(id(n));
    else worker.set(id(n), value, { ttlSecs: 600, source: "runtime" });
    worker.shared!.noteChange(id(n));
  };
  try {
    await connected(tier);
    // In Redis: 1 (the first isolate holds a copy) and 3.
    for (const n of [1, 3]) await tier.put(id(n), bytes(n), 600);
    first.set(id(1), bytes(1), { ttlSecs: 600, source: "shared" });
    assertEquals(await worker.shared!.fetch(id(1)), bytes(1));

    // The first isolate adds 2 and removes 1 while its Redis writes fail: both owed, the
    // worker told of each.
    first.set(id(2), bytes(2), { ttlSecs: 600, source: "runtime" });
    tell(2, bytes(2));
    assertEquals((await first.shared!.put(id(2), bytes(2), 600)).ok, false);
    assertEquals(first.delete(id(1)), true);
    tell(1, null);
    assertEquals((await first.shared!.delete(id(1), true)).ok, false);
    assertEquals(owedSeen, [[id(2)], [id(1), id(2)]]);

    // Past the hold of the notes, the worker still serves 2 (Redis has not got it) and not 1
    // (Redis still holds it).
    clock += 6_000;
    assertEquals(await worker.shared!.fetch(id(2)), bytes(2));
    assertEquals(worker.shared!.isFresh(id(2)), true);
    assertEquals(await worker.shared!.fetch(id(1)), undefined);

    // A replacement of 3 the worker is told of is served for the hold, then Redis's value.
    tell(3, bytes(4));
    assertEquals(await worker.shared!.fetch(id(3)), bytes(4));
    clock += 6_000;
    assertEquals(await worker.shared!.fetch(id(3)), bytes(3));

    // Nothing owed any more: Redis speaks for 2 again (it does not hold it: the copy goes).
    worker.shared!.follow([]);
    assertEquals(await worker.shared!.fetch(id(2)), undefined);
    assertEquals(worker.info(id(2)), undefined);
  } finally {
    stopOwed();
    first.dispose();
    worker.dispose();
    redis.process.kill("SIGKILL");
    await redis.process.status;
  }
});
