import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { AttemptsExhausted, backoffMs, fetchAttempts, RetryBudget } from "./retry.ts";

const policy = { max_attempts: 3, initial_backoff_ms: 0, max_backoff_ms: 0, jitter: 0 };

Deno.test("backoffMs() doubles, caps and spreads by jitter", () => {
  const p = { max_attempts: 5, initial_backoff_ms: 100, max_backoff_ms: 300, jitter: 0.2 };
  assertEquals(backoffMs(p, 1, () => 0.5), 100);
  assertEquals(backoffMs(p, 2, () => 0.5), 200);
  assertEquals(backoffMs(p, 3, () => 0.5), 300);
  assertEquals(backoffMs(p, 1, () => 0), 80);
  assertEquals(backoffMs(p, 1, () => 1), 120);
});

Deno.test("RetryBudget allows the floor, then a ratio of requests in the window", () => {
  const budget = new RetryBudget({ ratio: 0.5, window_secs: 1, min_retries_per_sec: 1 });
  assert(budget.tryRetry(0));
  assert(!budget.tryRetry(0));
  for (let i = 0; i < 6; i++) budget.recordRequest(0);
  assert(budget.tryRetry(0) && budget.tryRetry(0));
  assert(!budget.tryRetry(0));
  assert(budget.tryRetry(2000), "the window slides");
});

Deno.test("fetchAttempts() retries rejections up to max_attempts", async () => {
  const budget = new RetryBudget({ ratio: 1, window_secs: 10, min_retries_per_sec: 10 });
  let calls = 0;
  const value = await fetchAttempts(
    () => ++calls < 3 ? Promise.reject(new Error("x")) : Promise.resolve("ok"),
    {
      policy,
      budget,
    },
  );
  assertEquals([value, calls], ["ok", 3]);
  calls = 0;
  const failed = await fetchAttempts(() => (calls++, Promise.reject(new Error("x"))), {
    policy,
    budget,
  })
    .catch((e) => e);
  assert(failed instanceof AttemptsExhausted && !failed.budgetSpent);
  assertEquals(calls, 3);
  const none = new RetryBudget({ ratio: 0, window_secs: 10, min_retries_per_sec: 0 });
  const spent = await fetchAttempts(() => Promise.reject(new Error("x")), { policy, budget: none })
    .catch((e) => e);
  assert(spent instanceof AttemptsExhausted && spent.budgetSpent);
});
