import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { SecretStore } from "./store.ts";
import { base64UrlToBytes, bytesToBase64Url, bytesToHex, hexToBytes } from "../net/mod.ts";
import { clearKeyId, loadClearKeys } from "./clearkey.ts";

function fakeClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("SecretStore expires entries after the default TTL (lazy purge on read)", () => {
  const clock = fakeClock();
  const store = new SecretStore({ defaultTtlSecs: 10, sweepIntervalMs: 0, now: clock.now });
  store.set("a", bytes(1, 2, 3));
  clock.advance(9_999);
  assertEquals(store.get("a"), bytes(1, 2, 3));
  clock.advance(1);
  assertEquals(store.get("a"), undefined);
  assertEquals(store.list().length, 0);
});

Deno.test("SecretStore honours a per-entry TTL override", () => {
  const clock = fakeClock();
  const store = new SecretStore({ defaultTtlSecs: 10, sweepIntervalMs: 0, now: clock.now });
  store.set("short", bytes(1), { ttlSecs: 1 });
  store.set("long", bytes(2), { ttlSecs: 100 });
  store.set("default", bytes(3), { ttlSecs: null });
  clock.advance(5_000);
  assertEquals(store.list().map((e) => e.id).sort(), ["default", "long"]);
  clock.advance(10_000);
  assertEquals(store.list().map((e) => e.id), ["long"]);
});

Deno.test("SecretStore.sweep() drops expired entries and wipes their bytes", () => {
  const clock = fakeClock();
  const store = new SecretStore({ defaultTtlSecs: 1, sweepIntervalMs: 0, now: clock.now });
  const value = bytes(9, 9);
  store.set("x", value);
  store.set("y", value, { ttlSecs: 60 });
  clock.advance(1_000);
  assertEquals(store.sweep(), 1);
  assertEquals(value, bytes(9, 9), "the caller's buffer is copied, not kept");
  assertEquals(store.get("y"), bytes(9, 9));
});

Deno.test("SecretStore's periodic sweep runs on a real (unref'd) timer", async () => {
  const store = new SecretStore({ defaultTtlSecs: 1, sweepIntervalMs: 20 });
  store.set("x", bytes(1), { ttlSecs: 0.05 });
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(store.toJSON(), { entries: 0 }, "swept without any read");
  store.dispose();
});

Deno.test("SecretStore never serialises or shows values", () => {
  const store = new SecretStore({ defaultTtlSecs: 60, sweepIntervalMs: 0 });
  store.set("clearkey:abc", new TextEncoder().encode("TOPSECRETVALUE"));
  assertEquals(JSON.stringify({ store }), '{"store":{"entries":1}}');
  assert(!Deno.inspect(store).includes("TOPSECRET"));
  assert(!Deno.inspect(store).includes("clearkey:abc"));
  store.dispose();
  assertEquals(store.get("clearkey:abc"), undefined);
});

Deno.test("ClearKey helpers convert hex and base64url and load configured pairs", () => {
  const kid = hexToBytes("00112233445566778899aabbccddeeff")!;
  assertEquals(bytesToHex(kid), "00112233445566778899aabbccddeeff");
  assertEquals(bytesToBase64Url(kid), "ABEiM0RVZneImaq7zN3u_w");
  assertEquals(base64UrlToBytes("ABEiM0RVZneImaq7zN3u_w"), kid);
  assertEquals(base64UrlToBytes("ABEiM0RVZneImaq7zN3u_w=="), kid);
  assertEquals(base64UrlToBytes("not base64!"), undefined);
  assertEquals(hexToBytes("abc"), undefined);

  const store = new SecretStore({ defaultTtlSecs: 60, sweepIntervalMs: 0 });
  const loaded = loadClearKeys(store, [
    { kid: "00112233445566778899AABBCCDDEEFF", key: "0f".repeat(16), ttl_secs: null },
  ]);
  assertEquals(loaded, 1);
  assertEquals(store.get(clearKeyId(kid)), new Uint8Array(16).fill(0x0f));
  store.dispose();
});

Deno.test("SecretStore: Infinity never expires; adopt() copies one source's live entries", () => {
  const clock = fakeClock();
  const before = new SecretStore({ defaultTtlSecs: 10, sweepIntervalMs: 0, now: clock.now });
  before.set("config-key", bytes(1), { ttlSecs: Infinity });
  before.set("runtime-live", bytes(2), { ttlSecs: 20, source: "runtime" });
  before.set("runtime-gone", bytes(3), { ttlSecs: 1, source: "runtime" });
  before.set("both", bytes(4), { source: "runtime" });
  clock.advance(5_000);
  const after = new SecretStore({ defaultTtlSecs: 10, sweepIntervalMs: 0, now: clock.now });
  after.set("both", bytes(9));
  assertEquals(after.adopt(before, "runtime"), 1);
  assertEquals(after.list().map((e) => [e.id, e.source, e.expiresAt]), [
    ["both", "config", clock.now() + 10_000],
    ["runtime-live", "runtime", clock.now() + 15_000],
  ]);
  assertEquals(after.get("both"), bytes(9), "an entry already here is kept");
  clock.advance(1e12);
  assertEquals(before.get("config-key"), bytes(1));
  before.dispose();
  after.dispose();
});

Deno.test("SecretStore.observe() reports set and delete of non-config entries until unsubscribed", () => {
  const clock = fakeClock();
  const store = new SecretStore({ defaultTtlSecs: 60, sweepIntervalMs: 0, now: clock.now });
  const seen: unknown[] = [];
  const stop = store.observe((change) => seen.push(change));
  store.set("clearkey:aa", bytes(1, 2), { ttlSecs: Infinity }); // config: not reported
  store.set("clearkey:bb", bytes(3, 4), { ttlSecs: 30, source: "runtime" });
  store.set("clearkey:cc", bytes(5), { source: "shared" });
  store.set("clearkey:dd", bytes(6), { source: "runtime", notify: false });
  assertEquals(store.delete("clearkey:bb"), true);
  assertEquals(store.delete("clearkey:bb"), false); // gone: not reported again
  assertEquals(store.delete("clearkey:aa"), true); // config: not reported
  store.delete("clearkey:cc", { notify: false });
  assertEquals(seen, [
    { id: "clearkey:bb", value: bytes(3, 4), ttlSecs: 30, source: "runtime" },
    { id: "clearkey:cc", value: bytes(5), ttlSecs: 60, source: "shared" },
    { id: "clearkey:bb", value: null, ttlSecs: null, source: "runtime" },
  ]);
  stop();
  store.set("clearkey:ee", bytes(7), { source: "runtime" });
  assertEquals(seen.length, 3);
  store.dispose();
});

Deno.test("SecretStore.observe() hands out copies, and a throwing listener changes nothing", () => {
  const store = new SecretStore({ defaultTtlSecs: 60, sweepIntervalMs: 0 });
  let received: Uint8Array | null = null;
  store.observe(() => {
    throw new Error("listener failure");
  });
  store.observe(({ value }) => {
    received = value;
    value?.fill(0);
  });
  store.set("clearkey:aa", bytes(9, 9), { source: "runtime" });
  assertEquals(received, bytes(0, 0));
  assertEquals(store.get("clearkey:aa"), bytes(9, 9));
  store.dispose();
});

Deno.test("SecretStore.info() answers lifetime and source without the value, and purges expired", () => {
  const clock = fakeClock();
  const store = new SecretStore({ defaultTtlSecs: 60, sweepIntervalMs: 0, now: clock.now });
  store.set("clearkey:aa", bytes(1), { ttlSecs: 10, source: "runtime" });
  assertEquals(store.info("clearkey:aa"), {
    id: "clearkey:aa",
    expiresAt: clock.now() + 10_000,
    source: "runtime",
  });
  clock.advance(10_000);
  assertEquals(store.info("clearkey:aa"), undefined);
  assertEquals(store.size, 0);
  store.dispose();
});
