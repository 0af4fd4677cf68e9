import assert from "node:assert/strict";
import { type RemovalReason, SieveStore } from "./store.ts";

function makeStore(maxBytes: number, maxObjectBytes = maxBytes) {
  let now = 1_000;
  const removed: [string, RemovalReason][] = [];
  const store = new SieveStore<string>({
    maxBytes,
    maxObjectBytes,
    now: () => now,
    onRemove: (key, _value, reason) => removed.push([key, reason]),
  });
  const put = (key: string, bytes = 10, ttlMs = 60_000) =>
    store.set(key, `value ${key}`, { bytes, expiresAt: now + ttlMs });
  return { store, removed, put, advance: (ms: number) => now += ms };
}

Deno.test("SieveStore never holds more than maxBytes", () => {
  const { store, put, removed } = makeStore(100);
  for (let i = 0; i < 50; i++) {
    assert.equal(put(`k${i}`, 7 + (i % 5)), true);
    assert.ok(store.bytes <= 100, `bytes ${store.bytes} after ${i}`);
  }
  const held = store.keys();
  assert.equal(store.bytes, held.reduce((sum, key) => sum + 7 + (Number(key.slice(1)) % 5), 0));
  assert.equal(removed.length, 50 - held.length);
  assert.ok(removed.every(([, reason]) => reason === "capacity"));
});

Deno.test("SieveStore evicts in SIEVE order: unvisited first, visited ones survive one pass", () => {
  const { store, put, removed } = makeStore(40);
  for (const key of ["a", "b", "c", "d"]) put(key);
  assert.equal(store.get("a"), "value a");
  assert.equal(store.get("c"), "value c");
  put("e"); // the hand clears a, evicts b
  assert.deepEqual(store.keys(), ["a", "c", "d", "e"]);
  put("f"); // clears c, evicts d
  assert.deepEqual(store.keys(), ["a", "c", "e", "f"]);
  put("g"); // e was never read
  assert.deepEqual(store.keys(), ["a", "c", "f", "g"]);
  assert.deepEqual(removed.map(([key]) => key), ["b", "d", "e"]);
});

Deno.test("SieveStore evicts a visited entry on the pass after its bit was cleared", () => {
  const { store, put, removed } = makeStore(30);
  for (const key of ["a", "b", "c"]) put(key);
  for (const key of ["a", "b", "c"]) store.get(key);
  put("d"); // every bit cleared, the hand wraps and evicts the oldest
  assert.deepEqual(store.keys(), ["b", "c", "d"]);
  store.get("c");
  put("e"); // b lost its bit on the first pass
  assert.deepEqual(store.keys(), ["c", "d", "e"]);
  put("f"); // c was read again: it survives, d goes
  assert.deepEqual(store.keys(), ["c", "e", "f"]);
  assert.deepEqual(removed.map(([key]) => key), ["a", "b", "d"]);
});

Deno.test("SieveStore's hand wraps from the newest entry to the oldest", () => {
  const { store, put, removed } = makeStore(40);
  for (const key of ["a", "b", "c", "d"]) put(key);
  for (const key of ["a", "c", "d"]) store.get(key);
  put("e"); // clears a, evicts b; the hand rests on c
  store.get("e");
  put("f"); // clears c, d and e, wraps, and evicts a (cleared on the first pass)
  assert.deepEqual(store.keys(), ["c", "d", "e", "f"]);
  assert.deepEqual(removed.map(([key]) => key), ["b", "a"]);
});

Deno.test("SieveStore moves the hand off an entry removed under it", () => {
  const { store, put, removed } = makeStore(30);
  for (const key of ["a", "b", "c"]) put(key);
  store.get("a");
  put("d"); // clears a, evicts b; the hand rests on c
  store.delete("c");
  put("e");
  put("f"); // the hand went on to d, which was never read
  assert.deepEqual(store.keys(), ["a", "e", "f"]);
  assert.deepEqual(removed, [["b", "capacity"], ["c", "invalidated"], ["d", "capacity"]]);
  assert.equal(store.bytes, 30);
});

Deno.test("SieveStore keeps a hot object through a scan of one-hit wonders", () => {
  const { store, put } = makeStore(100);
  put("hot");
  for (let i = 0; i < 500; i++) {
    assert.equal(store.get("hot"), "value hot", `hot lost at ${i}`);
    put(`once${i}`);
  }
  assert.equal(store.size, 10);
});

Deno.test("SieveStore expires entries on read, by the sweep, and before evicting live ones", () => {
  const { store, put, removed, advance } = makeStore(1000);
  put("short", 10, 1_000);
  put("long", 10, 60_000);
  advance(1_000);
  assert.equal(store.get("short"), undefined);
  assert.deepEqual(removed, [["short", "expired"]]);
  assert.equal(store.get("long"), "value long");

  // Never read again: the sweep on later insertions removes it.
  put("idle", 10, 500);
  advance(600);
  put("x1");
  put("x2");
  put("x3");
  assert.equal(store.has("idle"), false);
  assert.deepEqual(removed.at(-1), ["idle", "expired"]);
});

Deno.test("SieveStore evicts an expired entry before an unvisited live one", () => {
  const { store, put, removed, advance } = makeStore(30);
  put("a", 10, 60_000);
  put("b", 10, 60_000);
  put("c", 10, 100);
  advance(200);
  store.get("a");
  store.get("b");
  put("d", 10, 60_000);
  assert.deepEqual(removed.at(-1), ["c", "expired"]);
  assert.deepEqual(store.keys(), ["a", "b", "d"]);
});

Deno.test("SieveStore refuses objects over maxObjectBytes and drops what they replace", () => {
  const { store, put, removed } = makeStore(1000, 100);
  assert.equal(put("a", 100), true);
  assert.equal(store.bytes, 100);
  assert.equal(put("a", 101), false);
  assert.equal(store.has("a"), false);
  assert.equal(store.bytes, 0);
  assert.deepEqual(removed, [["a", "replaced"]]);
});

Deno.test("SieveStore replaces, deletes and clears with the right reasons and byte counts", () => {
  const { store, put, removed } = makeStore(1000);
  put("a", 10);
  put("b", 20);
  put("a", 30);
  assert.equal(store.bytes, 50);
  assert.deepEqual(store.keys(), ["b", "a"]);
  assert.equal(store.delete("b"), true);
  assert.equal(store.delete("b"), false);
  assert.equal(store.bytes, 30);
  store.clear();
  assert.equal(store.bytes, 0);
  assert.equal(store.size, 0);
  assert.deepEqual(removed, [["a", "replaced"], ["b", "invalidated"], ["a", "invalidated"]]);
});
