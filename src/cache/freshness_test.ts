import assert from "node:assert/strict";
import {
  currentAgeSecs,
  type Freshness,
  type FreshnessDefaults,
  freshnessOf,
  initialAgeSecs,
  notStorableReason,
  parseHttpDate,
  requestPolicyOf,
  retentionSecs,
  usabilityOf,
  varyNames,
} from "./freshness.ts";

const DEFAULTS: FreshnessDefaults = {
  defaultTtlSecs: { playlist: 2, segment: 300, other: 0 },
  staleWhileRevalidateSecs: 4,
  staleIfErrorSecs: 30,
};
const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);
const HTTP_T0 = "Mon, 01 Jan 2024 12:00:00 GMT";

function response(status: number, headers: Record<string, string> = {}) {
  return { status, headers: new Headers(headers) };
}
const GET = { method: "GET", headers: new Headers() };

Deno.test("parseHttpDate() reads the three RFC 9110 §5.6.7 forms as UTC and refuses the rest", () => {
  assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777000);
  assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777000);
  assert.equal(parseHttpDate(HTTP_T0), T0);
  for (const bad of ["0", "-1", "", "garbage", "Sun, 06 Foo 1994 08:49:37 GMT", "2024-01-01"]) {
    assert.equal(parseHttpDate(bad), null, bad);
  }
  assert.equal(parseHttpDate(null), null);
});

Deno.test("notStorableReason() follows RFC 9111 §3 for a shared cache", () => {
  const cases: [number, Record<string, string>, string | null][] = [
    [200, {}, null],
    [200, { "cache-control": "max-age=60" }, null],
    [404, {}, null],
    [301, {}, null],
    [501, {}, null],
    [200, { "cache-control": "no-store" }, "no-store"],
    [200, { "cache-control": "max-age=60, private" }, "private"],
    [200, { "cache-control": 'private="x-user"' }, "private"],
    [200, { "cache-control": "no-cache" }, null],
    [200, { "set-cookie": "a=1" }, "set-cookie"],
    [200, { vary: "accept-encoding, *" }, "vary-star"],
    [200, { vary: "accept-encoding" }, null],
    [206, { "cache-control": "max-age=60" }, "status"],
    [304, {}, "status"],
    [500, { "cache-control": "max-age=60" }, "status"],
    [503, {}, "status"],
    [302, {}, "no-freshness"],
    [302, { "cache-control": "max-age=60" }, null],
    [307, { expires: HTTP_T0 }, null],
    [302, { "cache-control": "public" }, null],
  ];
  for (const [status, headers, expected] of cases) {
    assert.equal(
      notStorableReason(GET, response(status, headers)),
      expected,
      `${status} ${JSON.stringify(headers)}`,
    );
  }
  assert.equal(
    notStorableReason({ method: "HEAD", headers: new Headers() }, response(200)),
    "method",
  );
  assert.equal(
    notStorableReason({ method: "POST", headers: new Headers() }, response(200)),
    "method",
  );
});

Deno.test("notStorableReason() stores responses to requests with credentials only when shareable (§3.5)", () => {
  const authorized = { method: "GET", headers: new Headers({ authorization: "Bearer t" }) };
  assert.equal(notStorableReason(authorized, response(200)), "authorization");
  assert.equal(
    notStorableReason(authorized, response(200, { "cache-control": "max-age=60" })),
    "authorization",
  );
  for (const cc of ["public", "s-maxage=10", "must-revalidate, max-age=5"]) {
    assert.equal(notStorableReason(authorized, response(200, { "cache-control": cc })), null, cc);
  }
});

Deno.test("freshnessOf() prefers s-maxage, then max-age, then Expires − Date (§4.2.1)", () => {
  const later = "Mon, 01 Jan 2024 12:01:40 GMT"; // T0 + 100 s
  const lifetime = (headers: Record<string, string>) =>
    freshnessOf(response(200, headers), "segment", DEFAULTS, T0).lifetimeSecs;
  assert.equal(
    lifetime({ "cache-control": "s-maxage=5, max-age=50", expires: later, date: HTTP_T0 }),
    5,
  );
  assert.equal(lifetime({ "cache-control": "max-age=50", expires: later, date: HTTP_T0 }), 50);
  assert.equal(lifetime({ expires: later, date: HTTP_T0 }), 100);
  // Without Date, the time the response arrived stands in for it.
  assert.equal(
    freshnessOf(response(200, { expires: later }), "segment", DEFAULTS, T0 + 40_000).lifetimeSecs,
    60,
  );
  // An invalid or past Expires means already expired, not the default TTL.
  assert.equal(lifetime({ expires: "0", date: HTTP_T0 }), 0);
  assert.equal(lifetime({ expires: "Mon, 01 Jan 2024 11:00:00 GMT", date: HTTP_T0 }), 0);
  assert.equal(
    freshnessOf(response(200, { expires: "0" }), "segment", DEFAULTS, T0).heuristic,
    false,
  );
});

Deno.test("freshnessOf() falls back on the default TTL by kind, only for 200/203 or public", () => {
  const f = (status: number, kind: "playlist" | "segment" | "other", headers = {}) =>
    freshnessOf(response(status, headers), kind, DEFAULTS, T0);
  assert.equal(f(200, "playlist").lifetimeSecs, 2);
  assert.equal(f(200, "segment").lifetimeSecs, 300);
  assert.equal(f(203, "segment").lifetimeSecs, 300);
  assert.equal(f(200, "other").lifetimeSecs, 0);
  assert.equal(f(200, "segment").heuristic, true);
  assert.equal(f(404, "segment").lifetimeSecs, 0);
  assert.equal(f(301, "segment").lifetimeSecs, 0);
  assert.equal(f(301, "segment", { "cache-control": "public" }).lifetimeSecs, 300);
  assert.equal(f(200, "segment", { "last-modified": HTTP_T0 }).lifetimeSecs, 300);
  assert.equal(f(200, "segment", { "cache-control": "max-age=7" }).heuristic, false);
});

Deno.test("freshnessOf() takes stale windows from the response, then the defaults (RFC 5861)", () => {
  const f = (cc: string) =>
    freshnessOf(response(200, { "cache-control": cc }), "segment", DEFAULTS, T0);
  const windows = (fr: Freshness) => [fr.staleWhileRevalidateSecs, fr.staleIfErrorSecs];
  assert.deepEqual(windows(f("max-age=10")), [4, 30]);
  assert.deepEqual(windows(f("max-age=10, stale-while-revalidate=7, stale-if-error=9")), [7, 9]);
  assert.deepEqual(windows(f("max-age=10, stale-if-error=0")), [4, 0]);
  // Forbidden by no-cache, must-revalidate and proxy-revalidate (RFC 9111 §4.2.4).
  assert.deepEqual(windows(f("max-age=10, must-revalidate, stale-while-revalidate=7")), [0, 0]);
  assert.deepEqual(windows(f("max-age=10, proxy-revalidate")), [0, 0]);
  assert.deepEqual(windows(f("no-cache, stale-if-error=50")), [0, 0]);
  assert.equal(f("no-cache").alwaysRevalidate, true);
  assert.equal(f("max-age=1").alwaysRevalidate, false);
  // s-maxage implies proxy-revalidate: only the origin's explicit windows remain.
  assert.deepEqual(windows(f("s-maxage=10")), [0, 0]);
  assert.deepEqual(windows(f("s-maxage=1, stale-while-revalidate=59")), [59, 0]);
});

Deno.test("initialAgeSecs() follows RFC 9111 §4.2.3", () => {
  // Apparent age: 12 s between Date and arrival; Age + delay: 10 + 2.
  const times = { requestTimeMs: T0 + 10_000, responseTimeMs: T0 + 12_000 };
  assert.equal(initialAgeSecs(new Headers({ date: HTTP_T0, age: "10" }), times), 12);
  // An Age header larger than the apparent age wins, plus the response delay.
  assert.equal(initialAgeSecs(new Headers({ date: HTTP_T0, age: "100" }), times), 102);
  // A Date in the future does not make the age negative.
  const early = { requestTimeMs: T0 - 5_000, responseTimeMs: T0 - 5_000 };
  assert.equal(initialAgeSecs(new Headers({ date: HTTP_T0 }), early), 0);
  // No Date: only Age and the delay count; an invalid Age is ignored.
  assert.equal(initialAgeSecs(new Headers({ age: "3" }), times), 5);
  assert.equal(initialAgeSecs(new Headers({ age: "x" }), times), 2);
  assert.equal(currentAgeSecs(12, T0 + 12_000, T0 + 20_000), 20);
  assert.equal(currentAgeSecs(12, T0 + 12_000, T0 + 11_000), 12);
});

Deno.test("usabilityOf() is fresh while lifetime > age, then inside each stale window", () => {
  const fr: Freshness = {
    lifetimeSecs: 10,
    staleWhileRevalidateSecs: 5,
    staleIfErrorSecs: 20,
    alwaysRevalidate: false,
    heuristic: false,
  };
  const at = (age: number) => {
    const u = usabilityOf(fr, age);
    return [u.fresh, u.staleWhileRevalidate, u.staleIfError];
  };
  assert.deepEqual(at(9.9), [true, false, false]);
  assert.deepEqual(at(10), [false, true, true]);
  assert.deepEqual(at(14.9), [false, true, true]);
  assert.deepEqual(at(15), [false, false, true]);
  assert.deepEqual(at(30), [false, false, false]);
  assert.equal(usabilityOf(fr, 4).ttlSecs, 6);
  assert.equal(usabilityOf(fr, 13).ttlSecs, -3);
  const noCache = { ...fr, alwaysRevalidate: true };
  assert.deepEqual(
    [usabilityOf(noCache, 1).fresh, usabilityOf(noCache, 11).staleWhileRevalidate],
    [false, false],
  );
});

Deno.test("retentionSecs() keeps a response to its last stale window, or for revalidation", () => {
  const fr: Freshness = {
    lifetimeSecs: 10,
    staleWhileRevalidateSecs: 5,
    staleIfErrorSecs: 20,
    alwaysRevalidate: false,
    heuristic: false,
  };
  assert.equal(retentionSecs(fr, false, 60), 30);
  assert.equal(retentionSecs(fr, true, 60), 70);
  assert.equal(
    retentionSecs({ ...fr, staleIfErrorSecs: 0, staleWhileRevalidateSecs: 0 }, false, 60),
    10,
  );
  assert.equal(retentionSecs({ ...fr, alwaysRevalidate: true }, false, 60), 10);
});

Deno.test("requestPolicyOf() honours only-if-cached and nothing else", () => {
  assert.equal(
    requestPolicyOf(new Headers({ "cache-control": "only-if-cached" })).onlyIfCached,
    true,
  );
  assert.equal(
    requestPolicyOf(new Headers({ "cache-control": "no-cache, max-age=0", pragma: "no-cache" }))
      .onlyIfCached,
    false,
  );
});

Deno.test("varyNames() lower-cases, sorts and deduplicates, and reduces * to itself", () => {
  assert.deepEqual(varyNames(new Headers({ vary: "Origin, Accept-Encoding, origin" })), [
    "accept-encoding",
    "origin",
  ]);
  assert.deepEqual(varyNames(new Headers({ vary: "Origin, *" })), ["*"]);
  assert.deepEqual(varyNames(new Headers()), []);
});

Deno.test("initialAgeSecs: a lifetime sProx chose runs from arrival, not from the origin's Date", () => {
  const headers = new Headers({ date: new Date(1_000_000_000_000).toUTCString() });
  const times = { requestTimeMs: 1_000_000_002_500, responseTimeMs: 1_000_000_003_000 };
  assert.equal(initialAgeSecs(headers, times), 3);
  assert.equal(initialAgeSecs(headers, times, { heuristic: true }), 0.5);
  headers.set("age", "4");
  assert.equal(initialAgeSecs(headers, times, { heuristic: true }), 4.5);
});
