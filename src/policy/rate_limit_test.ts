import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { RateLimiter, rateLimitFields, type RateLimitSettings } from "./rate_limit.ts";

const SETTINGS: RateLimitSettings = {
  requestsPerSecond: 10,
  burst: 5,
  maxTrackedClients: 1000,
  idleEvictSecs: 60,
};

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("RateLimiter.take() allows a burst, then refuses with Retry-After", () => {
  const c = clock();
  const limiter = new RateLimiter(SETTINGS, { now: c.now });
  for (let i = 0; i < 5; i++) assert(limiter.take("a").allowed, `request ${i}`);
  const refused = limiter.take("a");
  assertEquals(refused.allowed, false);
  assertEquals(refused.remaining, 0);
  assertEquals(refused.retryAfterSecs, 1);
  assert(limiter.take("b").allowed, "another client is unaffected");
});

Deno.test("RateLimiter.take() refills one token per 1/rate seconds", () => {
  const c = clock();
  const limiter = new RateLimiter(SETTINGS, { now: c.now });
  for (let i = 0; i < 5; i++) limiter.take("a");
  assertEquals(limiter.take("a").allowed, false);
  c.advance(100);
  assertEquals(limiter.take("a").allowed, true);
  assertEquals(limiter.take("a").allowed, false);
  c.advance(10_000);
  const full = limiter.take("a");
  assertEquals(full.remaining, 4, "the bucket never exceeds its burst");
});

Deno.test("RateLimiter keeps memory bounded across 100,000 distinct client keys", () => {
  const c = clock();
  const limiter = new RateLimiter({ ...SETTINGS, maxTrackedClients: 10_000, idleEvictSecs: 5 }, {
    now: c.now,
  });
  let peak = 0;
  for (let i = 0; i < 100_000; i++) {
    limiter.take(`ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    peak = Math.max(peak, limiter.size);
    c.advance(0.1); // 100,000 keys over 10 s of limiter time
  }
  assert(peak <= 10_000, `peak ${peak} must stay under the cap`);
  assert(peak >= 9_000, `the cap is used before rotating: peak ${peak}`);
  // Idle eviction: after two idle periods without them, every one of those buckets is gone.
  c.advance(5_000);
  limiter.take("fresh");
  c.advance(5_000);
  limiter.take("fresh");
  assertEquals(limiter.size, 1);
});

Deno.test("RateLimiter drops buckets idle for one to two idle periods, keeps touched ones", () => {
  const c = clock();
  const limiter = new RateLimiter({ ...SETTINGS, idleEvictSecs: 1 }, { now: c.now });
  for (let i = 0; i < 500; i++) limiter.take(`k${i}`);
  assertEquals(limiter.size, 500);
  c.advance(1_100);
  limiter.take("k0"); // touched: kept
  assertEquals(limiter.size, 500, "one idle period is not enough to drop a bucket");
  c.advance(1_100);
  limiter.take("late");
  assertEquals(limiter.size, 2);
  // A kept bucket keeps its state: k0 spent two tokens and refilled since.
  assertEquals(limiter.take("k0").remaining, 4);
});

Deno.test("rateLimitFields() follows draft-ietf-httpapi-ratelimit-headers-11", () => {
  const c = clock();
  const limiter = new RateLimiter(SETTINGS, { now: c.now });
  const fields = rateLimitFields(SETTINGS, limiter.take("a"));
  assertEquals(fields.policy, '"sprox";q=5;w=1');
  assertEquals(fields.limit, '"sprox";r=4;t=1');
});
