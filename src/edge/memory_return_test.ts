import { strict as assert } from "node:assert";
import { MemoryReturn, type MemoryReturnSettings } from "./memory_return.ts";

const MIB = 1024 * 1024;

/** A MemoryReturn over a fake clock, request counter and resident size. */
function fixture(settings: Partial<MemoryReturnSettings> = {}, trim = true) {
  const state = {
    now: 0,
    requests: 0,
    rss: 100 * MIB,
    calls: [] as string[],
    returns: [] as [number, number][],
    settings: { enabled: true, quiet_ms: 2000, min_growth_mib: 32, ...settings },
  };
  const memory = new MemoryReturn({
    requests: () => state.requests,
    settings: () => state.settings,
    rss: () => state.rss,
    now: () => state.now,
    collect: () => {
      state.calls.push("collect");
      state.rss -= 40 * MIB;
    },
    trim: trim
      ? () => {
        state.calls.push("trim");
        state.rss -= 10 * MIB;
      }
      : null,
    returned: (before, after) => state.returns.push([before / MIB, after / MIB]),
  });
  /** Advances the clock by `ms` in ticks of 250 ms; the ticks that returned memory. */
  const run = (ms: number, requestsPerTick = 0) => {
    let returned = 0;
    for (let t = 0; t < ms; t += 250) {
      state.now += 250;
      state.requests += requestsPerTick;
      if (memory.tick()) returned++;
    }
    return returned;
  };
  return { state, run };
}

Deno.test("MemoryReturn gives memory back once traffic has been quiet for quiet_ms", () => {
  const { state, run } = fixture();
  state.rss = 200 * MIB;
  assert.equal(run(5000, 3), 0, "no return while requests keep starting");
  assert.equal(run(1750), 0, "not before quiet_ms");
  assert.equal(run(250), 1);
  assert.deepEqual(state.calls, ["collect", "trim"]);
  assert.deepEqual(state.returns, [[200, 150]]);
  assert.equal(run(10_000), 0, "once per quiet period: nothing new to give back");
});

Deno.test("MemoryReturn skips a quiet period when the process grew less than min_growth_mib", () => {
  const { state, run } = fixture({ min_growth_mib: 32 });
  state.rss = 131 * MIB; // 31 MiB over the 100 MiB it started at
  run(500, 1);
  assert.equal(run(3000), 0);
  assert.deepEqual(state.calls, []);
  // The next burst grows it past the threshold: measured against the start, not the skip.
  state.rss = 133 * MIB;
  run(500, 1);
  assert.equal(run(3000), 1);
  assert.deepEqual(state.returns, [[133, 83]]);
  // The level after a return is the new baseline.
  state.rss = 83 * MIB + 31 * MIB;
  run(500, 1);
  assert.equal(run(3000), 0);
  state.rss = 83 * MIB + 32 * MIB;
  run(500, 1);
  assert.equal(run(3000), 1);
});

Deno.test("MemoryReturn with min_growth_mib 0 returns after every quiet period", () => {
  const { state, run } = fixture({ min_growth_mib: 0, quiet_ms: 500 });
  state.rss = 60 * MIB; // below where it started
  run(250, 1);
  assert.equal(run(500), 1);
  run(250, 1);
  assert.equal(run(500), 1);
  assert.equal(state.returns.length, 2);
});

Deno.test("MemoryReturn does nothing when disabled, and reads its settings on every tick", () => {
  const { state, run } = fixture({ enabled: false, min_growth_mib: 0 });
  run(500, 1);
  assert.equal(run(5000), 0);
  assert.deepEqual(state.calls, []);
  // Enabled by a reload: the quiet period that followed traffic is still owed.
  state.settings = { ...state.settings, enabled: true };
  assert.equal(run(250), 1);
});

Deno.test("MemoryReturn without malloc_trim still collects garbage", () => {
  const { state, run } = fixture({ min_growth_mib: 0 }, false);
  run(250, 1);
  assert.equal(run(2000), 1);
  assert.deepEqual(state.calls, ["collect"]);
});
