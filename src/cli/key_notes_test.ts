/**
 * A worker isolate applying the first isolate's runtime key changes to its secret store, with
 * a shared tier whose lookups the test releases one by one (Redis has not taken the change).
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { heldStore as setUp, keyBytes as bytes } from "../secrets/_testing.ts";
import { SHARED_HOLD_SECS } from "../secrets/shared.ts";
import { applyKeyNote, applyKeySet, type KeyNote, sendKeySet } from "./key_notes.ts";

const ID = "clearkey:000102030405060708090a0b0c0d0e0f";
const OTHER = "clearkey:ffeeddccbbaa99887766554433221100";

Deno.test("a change the first isolate tells of is served as told for the hold, and a lookup asking Redis meanwhile is void", async () => {
  const { tier, store, shared, advance } = setUp();
  try {
    // Redis still holds the value from before the change.
    tier.values.set(ID, bytes(1));
    const asking = shared.fetch(ID);
    const sent = bytes(2);
    applyKeyNote(store, { id: ID, value: sent, ttlSecs: 600 });
    // The posted copy is wiped once stored.
    assertEquals(sent, bytes(0));
    tier.release();
    assertEquals(await asking, bytes(2));
    // Within the hold: answered here, Redis not asked.
    assertEquals(await shared.fetch(ID), bytes(2));
    assertEquals([tier.gets, store.info(ID)?.source], [1, "runtime"]);

    // A removal told of: not brought back from Redis for the hold.
    applyKeyNote(store, { id: ID, value: null, ttlSecs: null });
    assertEquals(await shared.fetch(ID), undefined);
    assertEquals(tier.gets, 1);

    // Past the hold, Redis speaks for the key again.
    advance(SHARED_HOLD_SECS * 1000);
    const later = shared.fetch(ID);
    tier.release();
    assertEquals(await later, bytes(1));
    assertEquals(tier.gets, 2);
  } finally {
    store.dispose();
  }
});

Deno.test("the whole set of runtime keys replaces a worker's own; keys of the configuration stay", async () => {
  const { tier, store, shared } = setUp();
  try {
    const configured = "clearkey:0f0e0d0c0b0a09080706050403020100";
    store.set(configured, bytes(9));
    store.set(OTHER, bytes(3), { ttlSecs: 600, source: "runtime" });
    tier.values.set(ID, bytes(1));
    applyKeySet(store, [{ id: ID, value: bytes(4), ttlSecs: 120 }]);
    assertEquals(
      store.list().map((e) => [e.id, e.source]).sort(),
      [[configured, "config"], [ID, "runtime"]].sort(),
    );
    assertEquals(store.info(ID)!.expiresAt - store.now(), 120_000);
    // Each key of the set is a change told of: served as sent, Redis not asked.
    assertEquals(await shared.fetch(ID), bytes(4));
    assertEquals(tier.gets, 0);
    applyKeySet(store, []);
    assertEquals(store.list().map((e) => e.id), [configured]);
  } finally {
    store.dispose();
  }
});

Deno.test("a starting worker gets the whole set of runtime keys, then what the first isolate owes Redis", async () => {
  const first = setUp();
  const worker = setUp();
  try {
    first.store.set("clearkey:0f0e0d0c0b0a09080706050403020100", bytes(9));
    first.store.set(OTHER, bytes(3), { ttlSecs: 600, source: "runtime" });
    // Added while Redis failed: owed.
    first.tier.failing = true;
    first.store.set(ID, bytes(5), { ttlSecs: 300, source: "runtime" });
    assertEquals((await first.shared.put(ID, bytes(5), 300)).ok, false);
    first.tier.failing = false;

    const sent: [string, unknown][] = [];
    const posted: KeyNote[] = [];
    sendKeySet(first.store, (kind, payload) => {
      // Posting copies (structured clone) at the call; the sender's copies are its own.
      if (kind === "keys") posted.push(...(payload as KeyNote[]));
      sent.push([kind, structuredClone(payload)]);
    });
    assertEquals(sent.map(([kind]) => kind), ["keys", "keys.owed"]);
    const notes = (sent[0][1] as KeyNote[]).sort((a, b) => a.id.localeCompare(b.id));
    assertEquals(notes, [
      { id: ID, value: bytes(5), ttlSecs: 300 },
      { id: OTHER, value: bytes(3), ttlSecs: 600 },
    ]);
    assertEquals(sent[1][1], [ID]);
    // The sender's copies are wiped once posted; the store keeps its own.
    assertEquals(posted.map((note) => note.value), [bytes(0), bytes(0)]);
    assertEquals(first.store.get(ID), bytes(5));

    // The worker takes both, and serves the owed key as sent (Redis does not have it).
    applyKeySet(worker.store, notes);
    worker.shared.follow(sent[1][1] as string[]);
    worker.advance(SHARED_HOLD_SECS * 1000);
    assertEquals(await worker.shared.fetch(ID), bytes(5));
    assertEquals(worker.tier.gets, 0);
  } finally {
    first.store.dispose();
    worker.store.dispose();
  }
});
