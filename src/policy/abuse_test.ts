import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { authAbuseKey, type AuthAbuseSettings, AuthFailureTracker } from "./abuse.ts";

const SETTINGS: AuthAbuseSettings = {
  maxFailures: 3,
  windowSecs: 60,
  blockSecs: 300,
  maxTrackedClients: 1000,
};

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("AuthFailureTracker blocks on the max_failures-th failure within the window", () => {
  const c = clock();
  const tracker = new AuthFailureTracker(SETTINGS, { now: c.now });
  assertEquals(tracker.recordFailure("a"), { failures: 1 });
  assertEquals(tracker.blockedFor("a"), 0);
  assertEquals(tracker.recordFailure("a"), { failures: 2 });
  assertEquals(tracker.blockedFor("a"), 0);
  assertEquals(tracker.recordFailure("a"), { failures: 3, blockSecs: 300 });
  assertEquals(tracker.blockedFor("a"), 300);
  assertEquals(tracker.blockedFor("b"), 0, "another client is unaffected");
  assertEquals(tracker.size, 1, "checking a client never seen tracks nothing");
});

Deno.test("AuthFailureTracker counts only failures inside the sliding window", () => {
  const c = clock();
  const tracker = new AuthFailureTracker(SETTINGS, { now: c.now });
  tracker.recordFailure("a");
  c.advance(30_000);
  tracker.recordFailure("a");
  c.advance(30_000); // the first failure is now exactly window_secs old: out of the window
  assertEquals(tracker.recordFailure("a"), { failures: 2 });
  assertEquals(tracker.blockedFor("a"), 0);
  c.advance(29_999); // the second failure is still inside
  assertEquals(tracker.recordFailure("a"), { failures: 3, blockSecs: 300 });
});

Deno.test("AuthFailureTracker ends a block after block_secs, with Retry-After counting down", () => {
  const c = clock();
  const tracker = new AuthFailureTracker(SETTINGS, { now: c.now });
  for (let i = 0; i < 3; i++) tracker.recordFailure("a");
  c.advance(100_500);
  assertEquals(tracker.blockedFor("a"), 200, "199.5 s left round up to 200");
  c.advance(199_000);
  assertEquals(tracker.blockedFor("a"), 1, "the last half second still blocks");
  c.advance(500);
  assertEquals(tracker.blockedFor("a"), 0);
  // A clean slate: one more failure does not start a new block.
  assertEquals(tracker.recordFailure("a"), { failures: 1 });
  assertEquals(tracker.blockedFor("a"), 0);
});

Deno.test("AuthFailureTracker: failures during a block neither count nor extend it", () => {
  const c = clock();
  const tracker = new AuthFailureTracker(SETTINGS, { now: c.now });
  for (let i = 0; i < 3; i++) tracker.recordFailure("a");
  c.advance(1_000);
  assertEquals(tracker.recordFailure("a"), { failures: 0 });
  assertEquals(tracker.blockedFor("a"), 299);
});

Deno.test("AuthFailureTracker keeps memory bounded across 100,000 failing clients", () => {
  const c = clock();
  const tracker = new AuthFailureTracker(
    { ...SETTINGS, maxTrackedClients: 10_000, windowSecs: 1, blockSecs: 2 },
    { now: c.now },
  );
  let peak = 0;
  for (let i = 0; i < 100_000; i++) {
    tracker.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    peak = Math.max(peak, tracker.size);
  }
  assert(peak <= 10_000, `peak ${peak} must stay under the cap`);
  assert(peak >= 9_000, `the cap is used before rotating: peak ${peak}`);
  // Idle eviction after two idle periods of max(window, block) = 2 s.
  c.advance(2_000);
  tracker.blockedFor("x");
  c.advance(2_000);
  tracker.blockedFor("x");
  assertEquals(tracker.size, 0);
});

Deno.test("AuthFailureTracker: idle rotations never drop a block before it ends", () => {
  const c = clock();
  // Generations rotate every max(window, block) = 30 s.
  const tracker = new AuthFailureTracker({ ...SETTINGS, windowSecs: 10, blockSecs: 30 }, {
    now: c.now,
  });
  c.advance(29_000);
  for (let i = 0; i < 3; i++) tracker.recordFailure("a");
  // Other clients keep the clock ticking (and the generations rotating) for 29 s.
  for (let i = 0; i < 29; i++) {
    c.advance(1_000);
    tracker.recordFailure(`other-${i}`);
  }
  assertEquals(tracker.blockedFor("a"), 1, "the block is still there 1 s before its end");
  c.advance(1_000);
  assertEquals(tracker.blockedFor("a"), 0);
});

Deno.test("authAbuseKey() counts IPv6 clients by /64 and IPv4-mapped ones as IPv4", () => {
  assertEquals(authAbuseKey("203.0.113.9"), "203.0.113.9");
  assertEquals(authAbuseKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(authAbuseKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assertEquals(authAbuseKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assertEquals(authAbuseKey("::ffff:198.51.100.7"), "198.51.100.7");
  assertEquals(authAbuseKey("unknown"), "unknown");
});
