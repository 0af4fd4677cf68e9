import assert from "node:assert/strict";
import { CEILING_TTL_MS, FdBudget, isDescriptorExhaustion } from "./fd_budget.ts";

Deno.test("FdBudget learns a ceiling at exhaustion and keeps the reserve below it", () => {
  let now = 0;
  const budget = new FdBudget(10, () => now);
  for (let i = 0; i < 100; i++) budget.opened();
  assert.equal(budget.underPressure(), false, "no ceiling before a failure");
  budget.exhausted();
  assert.equal(budget.ceiling, 100);
  assert.equal(budget.underPressure(), true);
  for (let i = 0; i < 10; i++) budget.closed();
  assert.equal(budget.underPressure(), true, "90 open is at ceiling - reserve");
  budget.closed();
  assert.equal(budget.underPressure(), false);
  now += CEILING_TTL_MS + 1;
  assert.equal(budget.ceiling, null, "the ceiling is forgotten");
});

Deno.test("isDescriptorExhaustion recognises EMFILE and ENFILE only", () => {
  assert.equal(isDescriptorExhaustion(new Error("Too many open files (os error 24)")), true);
  assert.equal(
    isDescriptorExhaustion(new Error("Too many open files in system (os error 23)")),
    true,
  );
  assert.equal(isDescriptorExhaustion(new Error("Connection reset by peer (os error 104)")), false);
  assert.equal(isDescriptorExhaustion(new Error("os error 240")), false);
});
