import assert from "node:assert/strict";
import { backoffMs, fetchWithRetry, RetryBudget } from "./retry.ts";

const RETRY = { max_attempts: 3, initial_backoff_ms: 100, max_backoff_ms: 5000, jitter: 0.2 };

Deno.test("backoffMs() doubles from the initial backoff up to the cap, within the jitter", () => {
  assert.equal(backoffMs(RETRY, 1, () => 0.5), 100);
  assert.equal(backoffMs(RETRY, 2, () => 0.5), 200);
  assert.equal(backoffMs(RETRY, 10, () => 0.5), 5000);
  assert.equal(backoffMs(RETRY, 1, () => 0), 80);
  assert.equal(backoffMs(RETRY, 1, () => 1), 120);
});

Deno.test("RetryBudget allows the floor, then 20 % of requests, over a sliding window", () => {
  let now = 0;
  const budget = new RetryBudget(
    { ratio: 0.2, window_secs: 10, min_retries_per_sec: 1 },
    () => now,
  );
  // Floor: 1/s over 10 s = 10 retries, even with no requests.
  for (let i = 0; i < 10; i++) assert.ok(budget.tryWithdraw());
  assert.equal(budget.tryWithdraw(), false);
  // 100 requests: 20 % = 20 retries allowed in the window, 10 already used.
  for (let i = 0; i < 100; i++) budget.recordRequest();
  assert.equal(budget.available(), 10);
  // After the window slides past, everything is forgotten.
  now += 11_000;
  assert.equal(budget.available(), 10);
});

Deno.test("fetchWithRetry() retries errors, honours max_attempts and idempotency", async () => {
  const budget = new RetryBudget({ ratio: 1, window_secs: 10, min_retries_per_sec: 100 });
  const fast = { ...RETRY, initial_backoff_ms: 1 };
  let calls = 0;
  const failing = () => {
    calls++;
    return Promise.reject(new Error("boom"));
  };
  await assert.rejects(
    fetchWithRetry(failing, { retry: fast, budget, idempotent: true, scope: "t" }),
  );
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    fetchWithRetry(failing, { retry: fast, budget, idempotent: false, scope: "t" }),
  );
  assert.equal(calls, 1);
  calls = 0;
  const result = await fetchWithRetry((n) => {
    calls++;
    return Promise.resolve(n < 2 ? 503 : 200);
  }, { retry: fast, budget, idempotent: true, scope: "t", shouldRetry: (o) => o.result === 503 });
  assert.equal(result, 200);
  assert.equal(calls, 2);
});

Deno.test("fetchWithRetry() stops when the budget is spent", async () => {
  const budget = new RetryBudget({ ratio: 0, window_secs: 10, min_retries_per_sec: 0 });
  let calls = 0;
  await assert.rejects(fetchWithRetry(() => {
    calls++;
    return Promise.reject(new Error("boom"));
  }, { retry: RETRY, budget, idempotent: true, scope: "t" }));
  assert.equal(calls, 1);
});

Deno.test("fetchWithRetry() never retries once the client went away", async () => {
  const budget = new RetryBudget({ ratio: 1, window_secs: 10, min_retries_per_sec: 100 });
  const fast = { ...RETRY, initial_backoff_ms: 1 };
  const controller = new AbortController();
  let calls = 0;
  // The client leaves while the attempt runs: its failure is the last word.
  await assert.rejects(
    fetchWithRetry(() => {
      calls++;
      controller.abort(new Error("client gone"));
      return Promise.reject(new Error("aborted"));
    }, { retry: fast, budget, idempotent: true, scope: "t", signal: controller.signal }),
    /aborted/,
  );
  assert.equal(calls, 1);
  // A retryable answer that arrives after the client left is not retried either.
  calls = 0;
  const late = new AbortController();
  const result = await fetchWithRetry(() => {
    calls++;
    late.abort();
    return Promise.resolve(503);
  }, {
    retry: fast,
    budget,
    idempotent: true,
    scope: "t",
    signal: late.signal,
    shouldRetry: (o) => o.result === 503,
  });
  assert.equal(result, 503);
  assert.equal(calls, 1);
  assert.equal(budget.available(), 1000, "no retry was withdrawn from the budget");
});
