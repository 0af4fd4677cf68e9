import assert from "node:assert/strict";
import { OriginHealth } from "./origin_health.ts";
import { type OriginPlan, originsOf, pickOrigin } from "./origins.ts";

const PASSIVE = { consecutive_failures: 2, ejection_ms: 1000 };
const ACTIVE = { enabled: true, healthy_threshold: 2, unhealthy_threshold: 2 };

function fakeClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function origin(
  name: string,
  priority: number,
  weight = 1,
  clock = fakeClock(),
): OriginPlan {
  const url = `http://${name}.example`;
  return {
    url: new URL(url),
    label: url,
    priority,
    weight,
    client: undefined as unknown as Deno.HttpClient,
    relayed: false,
    hop: { hostname: `${name}.example`, port: 80 },
    health: new OriginHealth("r", url, { passive: PASSIVE, active: ACTIVE }, clock.now),
  };
}

const host = (o: OriginPlan) => o.url.hostname;

Deno.test("originsOf() reads either form of the upstream block", () => {
  assert.deepEqual(originsOf({ origin: "http://a", origins: [] }), [
    { url: "http://a", priority: 0, weight: 1 },
  ]);
  assert.deepEqual(
    originsOf({ origin: null, origins: [{ url: "http://b", priority: 2, weight: 5 }] }),
    [{ url: "http://b", priority: 2, weight: 5 }],
  );
  assert.deepEqual(originsOf({ origin: null, origins: [] }), []);
});

Deno.test("pickOrigin() prefers the lowest priority, then moves to untried origins", () => {
  const a = origin("a", 1);
  const b = origin("b", 0);
  const c = origin("c", 2);
  const all = [a, b, c];
  assert.equal(host(pickOrigin(all, new Set())), "b.example");
  assert.equal(host(pickOrigin(all, new Set([b]))), "a.example");
  assert.equal(host(pickOrigin(all, new Set([b, a]))), "c.example");
  // Every healthy origin tried: the best one again.
  assert.equal(host(pickOrigin(all, new Set(all))), "b.example");
});

Deno.test("pickOrigin() skips unavailable origins, and falls back to them when none is left", () => {
  const clock = fakeClock();
  const a = origin("a", 0, 1, clock);
  const b = origin("b", 1, 1, clock);
  a.health.recordFailure("refused");
  a.health.recordFailure("refused");
  assert.equal(a.health.state(), "ejected");
  assert.equal(host(pickOrigin([a, b], new Set())), "b.example");
  b.health.recordCheck(false, "status 500");
  b.health.recordCheck(false, "status 500");
  assert.equal(b.health.state(), "unhealthy");
  // Nothing healthy: the untried ones by priority, never no origin at all.
  assert.equal(host(pickOrigin([a, b], new Set())), "a.example");
  assert.equal(host(pickOrigin([a, b], new Set([a]))), "b.example");
  assert.equal(host(pickOrigin([a, b], new Set([a, b]))), "a.example");
});

Deno.test("pickOrigin() shares requests by weight within a priority", () => {
  const a = origin("a", 0, 1);
  const b = origin("b", 0, 3);
  const c = origin("c", 1, 100);
  const pick = (r: number) => host(pickOrigin([a, b, c], new Set(), () => r));
  // Weights 1 and 3: a takes [0, 0.25), b takes [0.25, 1).
  assert.equal(pick(0), "a.example");
  assert.equal(pick(0.24), "a.example");
  assert.equal(pick(0.25), "b.example");
  assert.equal(pick(0.99), "b.example");
});

Deno.test("OriginHealth ejects after consecutive failures, for ejection_ms, then on probation", () => {
  const clock = fakeClock();
  const health = new OriginHealth(
    "r",
    "http://a",
    { passive: PASSIVE, active: ACTIVE },
    clock.now,
  );
  health.recordFailure("timeout");
  health.recordSuccess();
  health.recordFailure("timeout");
  assert.equal(health.available(), true, "a success resets the count");
  health.recordFailure("timeout");
  assert.equal(health.state(), "ejected");
  assert.equal(health.snapshot().ejected_until, clock.now() + 1000);
  clock.advance(999);
  assert.equal(health.available(), false);
  clock.advance(1);
  assert.equal(health.available(), true);
  // On probation: one failure ejects again; a success ends the probation.
  health.recordFailure("status_503");
  assert.equal(health.state(), "ejected");
  clock.advance(1000);
  health.recordSuccess();
  health.recordFailure("status_503");
  assert.equal(health.available(), true);
  assert.deepEqual(
    [health.snapshot().ejections, health.snapshot().attempts, health.snapshot().failed_attempts],
    [2, 7, 5],
  );
});

Deno.test("OriginHealth follows active checks by thresholds; a passing check ends an ejection", () => {
  const clock = fakeClock();
  const health = new OriginHealth(
    "r",
    "http://a",
    { passive: PASSIVE, active: ACTIVE },
    clock.now,
  );
  health.recordCheck(false, "status 500");
  assert.equal(health.state(), "healthy", "one failure is below unhealthy_threshold");
  health.recordCheck(false, "status 500");
  assert.equal(health.state(), "unhealthy");
  health.recordCheck(true, "status 200");
  assert.equal(health.state(), "unhealthy", "one pass is below healthy_threshold");
  health.recordCheck(true, "status 200");
  assert.equal(health.state(), "healthy");
  health.recordFailure("refused");
  health.recordFailure("refused");
  assert.equal(health.state(), "ejected");
  health.recordCheck(true, "status 200");
  assert.equal(health.state(), "healthy");
  assert.deepEqual(health.snapshot().last_check, {
    at: clock.now(),
    ok: true,
    detail: "status 200",
  });
  // Checks switched off by a reload: their verdict no longer holds.
  health.recordCheck(false, "x");
  health.recordCheck(false, "x");
  health.configure({ passive: PASSIVE, active: { ...ACTIVE, enabled: false } });
  assert.equal(health.state(), "healthy");
});

Deno.test("OriginHealth with consecutive_failures 0 never ejects", () => {
  const health = new OriginHealth("r", "http://a", {
    passive: { consecutive_failures: 0, ejection_ms: 1000 },
    active: ACTIVE,
  });
  for (let i = 0; i < 10; i++) health.recordFailure("refused");
  assert.equal(health.state(), "healthy");
});
