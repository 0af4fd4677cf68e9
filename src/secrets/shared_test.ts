/**
 * Interleavings of lookups and changes in the shared key tier that a real Redis cannot be made
 * to produce on demand (tests/state_redis_writeback_test.ts runs the rest against a real
 * `redis-server`): a tier whose answers the test releases one by one.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { SecretStore } from "./store.ts";
import { heldStore, HeldTier, keyBytes as bytes } from "./_testing.ts";

const ID = "clearkey:000102030405060708090a0b0c0d0e0f";

Deno.test("a lookup's answer from before a change made here meanwhile is not applied", async () => {
  const { tier, store, shared } = heldStore();
  try {
    tier.values.set(ID, bytes(1));
    // Asked while Redis held 1; the key is removed here (and in Redis) before the answer.
    const asked = shared.fetch(ID);
    assertEquals(store.delete(ID), false);
    assertEquals(await shared.delete(ID, true), { ok: true, existed: true });
    tier.release();
    assertEquals(await asked, undefined);
    assertEquals(store.info(ID), undefined);

    // Asked while Redis held nothing; a key added here meanwhile is not dropped.
    const again = shared.fetch(ID);
    store.set(ID, bytes(2), { ttlSecs: 600, source: "runtime" });
    assertEquals(await shared.put(ID, bytes(2), 600), { ok: true, existed: false });
    tier.release();
    assertEquals(await again, bytes(2));
    assertEquals(store.get(ID), bytes(2));

    // A worker isolate's copy that the first isolate starts to owe Redis while the lookup
    // waits (Redis does not hold it): kept.
    tier.values.delete(ID);
    const owed = shared.fetch(ID);
    shared.follow([ID]);
    tier.release();
    assertEquals(await owed, bytes(2));
    assertEquals(store.get(ID), bytes(2));
    shared.follow([]);

    // With no change meanwhile, the answer is applied (Redis was changed elsewhere).
    tier.values.set(ID, bytes(3));
    const third = shared.fetch(ID);
    tier.release();
    assertEquals(await third, bytes(3));
    assertEquals(store.get(ID), bytes(3));
  } finally {
    store.dispose();
  }
});

Deno.test("changes owed to Redis are answered here without asking it", async () => {
  const { tier, store, shared, advance } = heldStore();
  try {
    tier.values.set(ID, bytes(1));
    store.set(ID, bytes(1), { ttlSecs: 600, source: "shared" });
    tier.failing = true;
    assertEquals(store.delete(ID), true);
    assertEquals((await shared.delete(ID, true)).ok, false);
    tier.failing = false;
    advance(60_000);
    assertEquals(await shared.fetch(ID), undefined);
    assertEquals(tier.gets, 0);

    const other = "clearkey:ffeeddccbbaa99887766554433221100";
    tier.failing = true;
    store.set(other, bytes(4), { ttlSecs: 600, source: "runtime" });
    assertEquals((await shared.put(other, bytes(4), 600)).ok, false);
    tier.failing = false;
    advance(60_000);
    assertEquals(shared.isFresh(other), true);
    assertEquals(await shared.fetch(other), bytes(4));
    assertEquals(tier.gets, 0);
    assertEquals(shared.owed(), [other, ID].sort());
    // Listed as they are here: the removed key not at all (Redis still lists it).
    assertEquals((await shared.list()).map((e) => [e.id, e.source]), [[other, "runtime"]]);
  } finally {
    store.dispose();
  }
});

Deno.test("after a reload the new store alone owes Redis the old one's changes once its plan serves, and tells who follows them", async () => {
  const now = 1_000_000;
  const tier = new HeldTier();
  const options = { defaultTtlSecs: 300, sweepIntervalMs: 0, now: () => now, shared: tier };
  const before = new SecretStore(options);
  const told: string[][] = [];
  before.shared!.onOwedChange((ids) => told.push(["before", ...ids]));
  tier.failing = true;
  before.set(ID, bytes(1), { ttlSecs: 600, source: "runtime" });
  assertEquals((await before.shared!.put(ID, bytes(1), 600)).ok, false);
  assertEquals(told, [["before", ID]]);

  // A reload abandoned after its plan was prepared: the old store still owes the change.
  const abandoned = new SecretStore(options);
  abandoned.adopt(before, "runtime");
  tier.failing = false;
  assertEquals(await abandoned.shared!.writeBack(), true);
  assertEquals(tier.puts, 0);
  assertEquals(before.shared!.owed(), [ID]);
  abandoned.dispose();

  const after = new SecretStore(options);
  after.adopt(before, "runtime");
  after.shared!.onOwedChange((ids) => told.push(["after", ...ids]));
  assertEquals(after.shared!.owed(), []);
  // Put in place on a live connection: it writes back at once (no call, no retry timer).
  tier.connected = true;
  after.shared!.activate();
  assertEquals(before.shared!.owed(), []);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(tier.puts, 1);
  assertEquals(after.shared!.owed(), []);
  // The replaced store leaves it to its successor: written once.
  assertEquals(await before.shared!.writeBack(), true);
  assertEquals(tier.puts, 1);
  assertEquals(tier.values.get(ID), bytes(1));
  assertEquals(told, [["before", ID], ["after"]]);
  before.dispose();
  after.dispose();
});

Deno.test("a worker isolate lists the first isolate's owed keys as it holds them", async () => {
  const { tier, store, shared } = heldStore();
  try {
    const removed = "clearkey:ffeeddccbbaa99887766554433221100";
    tier.values.set(removed, bytes(5));
    // Added while the first isolate's Redis failed (a copy here), and removed there likewise.
    store.set(ID, bytes(6), { ttlSecs: 600, source: "runtime" });
    shared.follow([ID, removed]);
    assertEquals((await shared.list()).map((e) => [e.id, e.source]), [[ID, "runtime"]]);
    shared.follow([]);
    assertEquals((await shared.list()).map((e) => [e.id, e.source]), [[removed, "shared"]]);
  } finally {
    store.dispose();
  }
});

Deno.test("a key of the configuration that takes a shared copy's place while a lookup waits stays", async () => {
  const { tier, store, shared } = heldStore();
  try {
    for (const redis of [undefined, bytes(8)]) {
      if (redis) tier.values.set(ID, redis);
      else tier.values.delete(ID);
      store.set(ID, bytes(1), { ttlSecs: 600, source: "shared" });
      const asked = shared.fetch(ID);
      store.set(ID, bytes(7), { ttlSecs: 600, source: "config" });
      tier.release();
      // Redis's answer (nothing, or its copy) is not applied over the configuration's key.
      assertEquals(await asked, bytes(7));
      assertEquals([store.get(ID), store.info(ID)?.source], [bytes(7), "config"]);
      store.delete(ID);
    }
    assertEquals(tier.gets, 2);
    // A shared copy that Redis no longer holds (removed elsewhere) is dropped.
    tier.values.delete(ID);
    store.set(ID, bytes(1), { ttlSecs: 600, source: "shared" });
    const removed = shared.fetch(ID);
    tier.release();
    assertEquals([await removed, store.info(ID)], [undefined, undefined]);
  } finally {
    store.dispose();
  }
});
