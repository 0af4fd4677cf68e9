import assert from "node:assert/strict";
import type { LoadedConfig } from "../../config/mod.ts";
import { WorkerPool } from "./pool.ts";

const MODULE = new URL("../../../tests/fixtures/failing_worker.ts", import.meta.url);

/** Polls `check` every 50 ms until it holds; fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a worker isolate that fails is replaced, never the process; the replacement gets what the others were sent", async () => {
  const echoes: { id: string; payload: unknown }[] = [];
  const pool = await WorkerPool.start({
    module: MODULE,
    count: 2,
    loaded: {} as LoadedConfig,
    ports: new Map(),
    timeoutMs: 10_000,
    services: {
      requests: {},
      notes: { echo: (payload) => echoes.push(payload as { id: string; payload: unknown }) },
    },
    restarted: (send) => send("keys", ["runtime-key"]),
  });
  try {
    assert.deepEqual(pool.status(), [
      { index: 1, hash: "plan-1", restarts: 0 },
      { index: 2, hash: "plan-2", restarts: 0 },
    ]);
    const first = await pool.collect<string>("id", 5_000);
    assert.equal(first.length, 2);
    assert.equal(echoes.length, 0, "the isolates started first are sent nothing");

    pool.broadcast("fail", null);
    await until(
      () => pool.status().every((s) => s.restarts === 1) && echoes.length === 2,
      10_000,
      "both isolates replaced",
    );
    const second = await pool.collect<string>("id", 5_000);
    assert.equal(second.length, 2, "both replacements answer");
    for (const id of second) assert.ok(!first.includes(id), "a new isolate, not the failed one");
    assert.deepEqual(
      echoes.map((e) => e.payload),
      [["runtime-key"], ["runtime-key"]],
    );
    assert.deepEqual(new Set(echoes.map((e) => e.id)), new Set(second));
    assert.deepEqual(
      pool.status().map((s) => s.hash),
      ["plan-1", "plan-2"],
      "each replacement serves under its own index",
    );

    // A replacement that fails is replaced in turn.
    pool.broadcast("fail", null);
    await until(() => pool.status().every((s) => s.restarts === 2), 10_000, "replaced again");
    assert.equal((await pool.collect<string>("id", 5_000)).length, 2);
  } finally {
    await pool.shutdown(1_000);
  }
});
