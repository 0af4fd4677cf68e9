import assert from "node:assert/strict";
import { afterDeadline, DEADLINE_TICK_MS, deadlinesTicking } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("afterDeadline() fires once, never before its time, in the order deadlines fall due", async () => {
  const fired: [string, number][] = [];
  const armed = performance.now();
  afterDeadline(90, () => fired.push(["late", performance.now() - armed]));
  afterDeadline(30, () => fired.push(["early", performance.now() - armed]));
  afterDeadline(0, () => fired.push(["now", performance.now() - armed]));
  await sleep(90 + 6 * DEADLINE_TICK_MS);
  assert.deepEqual(fired.map(([name]) => name), ["now", "early", "late"]);
  assert.ok(fired[1][1] >= 30, `early fired after ${fired[1][1]} ms`);
  assert.ok(fired[2][1] >= 90, `late fired after ${fired[2][1]} ms`);
});

Deno.test("afterDeadline() does not fire once cancelled, and others in its tick still do", async () => {
  let cancelledFired = false;
  let kept = 0;
  const cancel = afterDeadline(40, () => cancelledFired = true);
  afterDeadline(40, () => kept++);
  cancel();
  cancel(); // twice is harmless
  await sleep(40 + 6 * DEADLINE_TICK_MS);
  assert.equal(cancelledFired, false);
  assert.equal(kept, 1);
});

Deno.test("afterDeadline() keeps working after it went idle", async () => {
  await sleep(3 * DEADLINE_TICK_MS);
  let fired = 0;
  for (let i = 0; i < 1000; i++) afterDeadline(i % 50, () => fired++);
  await sleep(50 + 6 * DEADLINE_TICK_MS);
  assert.equal(fired, 1000);
});

Deno.test("afterDeadline(): the runtime timer stops once every deadline fired or was cancelled", async () => {
  await sleep(3 * DEADLINE_TICK_MS);
  assert.equal(deadlinesTicking(), false);
  const cancels = [afterDeadline(30_000, () => {}), afterDeadline(30_000, () => {})];
  assert.equal(deadlinesTicking(), true);
  for (const cancel of cancels) cancel();
  // Not 30 s later: the next tick finds nothing armed.
  await sleep(3 * DEADLINE_TICK_MS);
  assert.equal(deadlinesTicking(), false);
  let fired = false;
  afterDeadline(10, () => fired = true);
  await sleep(10 + 4 * DEADLINE_TICK_MS);
  assert.equal(fired, true);
  assert.equal(deadlinesTicking(), false);
});
