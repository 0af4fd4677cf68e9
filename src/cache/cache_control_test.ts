import assert from "node:assert/strict";
import { DELTA_SECONDS_MAX, parseCacheControl } from "./cache_control.ts";

Deno.test("parseCacheControl() reads the RFC 5861 examples", () => {
  const swr = parseCacheControl("max-age=600, stale-while-revalidate=30");
  assert.equal(swr.maxAge, 600);
  assert.equal(swr.staleWhileRevalidate, 30);
  assert.equal(swr.staleIfError, undefined);
  const sie = parseCacheControl("max-age=600, stale-if-error=1200");
  assert.equal(sie.staleIfError, 1200);
  assert.equal(sie.staleWhileRevalidate, undefined);
});

Deno.test("parseCacheControl() reads every flag directive, case-insensitively", () => {
  const cc = parseCacheControl(
    "No-Store, NO-CACHE, private, Public, must-revalidate, proxy-revalidate, only-if-cached, immutable",
  );
  assert.deepEqual(
    [
      cc.noStore,
      cc.noCache,
      cc.private,
      cc.public,
      cc.mustRevalidate,
      cc.proxyRevalidate,
      cc.onlyIfCached,
      cc.immutable,
    ],
    [true, true, true, true, true, true, true, true],
  );
  const none = parseCacheControl(null);
  assert.deepEqual(
    [none.noStore, none.noCache, none.private, none.public, none.maxAge, none.sMaxAge],
    [false, false, false, false, undefined, undefined],
  );
});

Deno.test("parseCacheControl() keeps the first of repeated directives (RFC 9111 §4.2.1)", () => {
  assert.equal(parseCacheControl("max-age=5, max-age=500").maxAge, 5);
  assert.equal(parseCacheControl("s-maxage=7,max-age=9").sMaxAge, 7);
});

Deno.test("parseCacheControl() accepts quoted arguments and ignores commas inside quotes", () => {
  const cc = parseCacheControl('no-cache="set-cookie, x-a", max-age="30", s-maxage=40');
  assert.equal(cc.noCache, true);
  assert.equal(cc.maxAge, 30);
  assert.equal(cc.sMaxAge, 40);
  // An extension with a quoted argument (RFC 9111 §5.2.3's example) is ignored.
  const ext = parseCacheControl('private, community="UCI"');
  assert.equal(ext.private, true);
  assert.equal(ext.maxAge, undefined);
});

Deno.test("parseCacheControl() makes invalid delta-seconds stale and caps huge ones", () => {
  assert.equal(parseCacheControl("max-age=abc").maxAge, 0);
  assert.equal(parseCacheControl("max-age=-5").maxAge, 0);
  assert.equal(parseCacheControl("max-age").maxAge, 0);
  assert.equal(parseCacheControl("max-age=1.5").maxAge, 0);
  assert.equal(parseCacheControl("max-age=99999999999999").maxAge, DELTA_SECONDS_MAX);
  assert.equal(parseCacheControl("max-age = 12").maxAge, 12);
  assert.equal(parseCacheControl(" , ,max-age=3,").maxAge, 3);
});
