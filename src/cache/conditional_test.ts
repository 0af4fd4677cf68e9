import assert from "node:assert/strict";
import {
  evaluatePreconditions,
  hasValidator,
  mergeNotModified,
  notModifiedHeaders,
  parseEntityTag,
  parseEntityTagList,
  revalidationHeaders,
  selectsForUpdate,
  strongMatch,
  weakMatch,
} from "./conditional.ts";

const LM = "Mon, 01 Jan 2024 12:00:00 GMT";
const BEFORE = "Mon, 01 Jan 2024 11:00:00 GMT";
const AFTER = "Mon, 01 Jan 2024 13:00:00 GMT";

Deno.test("entity tag comparison follows the RFC 9110 §8.8.3.2 table", () => {
  const t = (s: string) => parseEntityTag(s)!;
  const rows: [string, string, boolean, boolean][] = [
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
  ];
  for (const [a, b, strong, weak] of rows) {
    assert.equal(strongMatch(t(a), t(b)), strong, `${a} ${b} strong`);
    assert.equal(weakMatch(t(a), t(b)), weak, `${a} ${b} weak`);
  }
});

Deno.test("parseEntityTagList() splits lists, keeps commas inside tags, and knows *", () => {
  assert.equal(parseEntityTagList(" * "), "*");
  assert.deepEqual(parseEntityTagList('"a", W/"b,c" ,"d"'), [
    { weak: false, tag: '"a"' },
    { weak: true, tag: '"b,c"' },
    { weak: false, tag: '"d"' },
  ]);
  assert.deepEqual(parseEntityTagList("abc"), [{ weak: false, tag: "abc" }]);
});

Deno.test("evaluatePreconditions() answers If-None-Match by weak comparison (→ 304)", () => {
  const stored = new Headers({ etag: '"v1"', "last-modified": LM });
  const ev = (headers: Record<string, string>, method = "GET") =>
    evaluatePreconditions(method, new Headers(headers), stored);
  assert.equal(ev({ "if-none-match": '"v1"' }), "not-modified");
  assert.equal(ev({ "if-none-match": 'W/"v1"' }), "not-modified");
  assert.equal(ev({ "if-none-match": '"v0", "v1"' }), "not-modified");
  assert.equal(ev({ "if-none-match": "*" }), "not-modified");
  assert.equal(ev({ "if-none-match": '"v2"' }), "proceed");
  assert.equal(ev({ "if-none-match": '"v1"' }, "HEAD"), "not-modified");
  // If-None-Match takes precedence over If-Modified-Since (§13.1.3).
  assert.equal(ev({ "if-none-match": '"v2"', "if-modified-since": AFTER }), "proceed");
  // Not for unsafe methods.
  assert.equal(ev({ "if-none-match": '"v1"' }, "POST"), "proceed");
});

Deno.test("evaluatePreconditions() answers If-Modified-Since against Last-Modified", () => {
  const stored = new Headers({ "last-modified": LM });
  const ev = (since: string) =>
    evaluatePreconditions("GET", new Headers({ "if-modified-since": since }), stored);
  assert.equal(ev(LM), "not-modified");
  assert.equal(ev(AFTER), "not-modified");
  assert.equal(ev(BEFORE), "proceed");
  assert.equal(ev("yesterday"), "proceed");
  // Without Last-Modified the date cannot be compared: the full response is sent.
  assert.equal(
    evaluatePreconditions("GET", new Headers({ "if-modified-since": AFTER }), new Headers()),
    "proceed",
  );
});

Deno.test("evaluatePreconditions() fails If-Match and If-Unmodified-Since (→ 412)", () => {
  const stored = new Headers({ etag: '"v1"', "last-modified": LM });
  const ev = (headers: Record<string, string>) =>
    evaluatePreconditions("GET", new Headers(headers), stored);
  assert.equal(ev({ "if-match": '"v1"' }), "proceed");
  assert.equal(ev({ "if-match": "*" }), "proceed");
  assert.equal(ev({ "if-match": 'W/"v1"' }), "failed");
  assert.equal(ev({ "if-match": '"v2"' }), "failed");
  assert.equal(ev({ "if-unmodified-since": BEFORE }), "failed");
  assert.equal(ev({ "if-unmodified-since": LM }), "proceed");
  // If-Match present: If-Unmodified-Since is not evaluated (§13.2.2 step 2).
  assert.equal(ev({ "if-match": '"v1"', "if-unmodified-since": BEFORE }), "proceed");
  assert.equal(
    evaluatePreconditions("GET", new Headers({ "if-match": '"v1"' }), new Headers()),
    "failed",
  );
});

Deno.test("notModifiedHeaders() keeps the RFC 9110 §15.4.5 fields and drops the content ones", () => {
  const headers = notModifiedHeaders(
    new Headers({
      etag: '"a"',
      "last-modified": LM,
      "cache-control": "max-age=5",
      expires: AFTER,
      vary: "origin",
      date: LM,
      "content-location": "/a",
      age: "3",
      "cache-status": "sprox; hit",
      "content-type": "video/mp2t",
      "content-length": "100",
      "x-other": "1",
    }),
  );
  assert.deepEqual([...headers.keys()].sort(), [
    "age",
    "cache-control",
    "cache-status",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
  ]);
  const lmOnly = notModifiedHeaders(new Headers({ "last-modified": LM }));
  assert.equal(lmOnly.get("last-modified"), LM);
});

Deno.test("revalidationHeaders() sends the stored validators (RFC 9111 §4.3.1)", () => {
  const both = revalidationHeaders(new Headers({ etag: 'W/"x"', "last-modified": LM }));
  assert.equal(both.get("if-none-match"), 'W/"x"');
  assert.equal(both.get("if-modified-since"), LM);
  assert.equal([...revalidationHeaders(new Headers({ "content-type": "a/b" }))].length, 0);
  assert.equal(hasValidator(new Headers({ "last-modified": LM })), true);
  assert.equal(hasValidator(new Headers({ date: LM })), false);
});

Deno.test("selectsForUpdate() matches a 304 to the stored response by validator (§4.3.4)", () => {
  const stored = new Headers({ etag: '"a"', "last-modified": LM });
  assert.equal(selectsForUpdate(stored, new Headers({ etag: '"a"' })), true);
  assert.equal(selectsForUpdate(stored, new Headers({ etag: 'W/"a"' })), true);
  assert.equal(selectsForUpdate(stored, new Headers({ etag: '"b"' })), false);
  assert.equal(selectsForUpdate(stored, new Headers({ "last-modified": LM })), true);
  assert.equal(selectsForUpdate(stored, new Headers({ "last-modified": AFTER })), false);
  assert.equal(selectsForUpdate(stored, new Headers()), true);
  assert.equal(selectsForUpdate(new Headers(), new Headers({ etag: '"a"' })), false);
});

Deno.test("mergeNotModified() replaces stored fields but never the content's (§3.2)", () => {
  const stored = new Headers({
    etag: '"a"',
    "cache-control": "max-age=5",
    "content-length": "100",
    "content-type": "video/mp2t",
    "x-keep": "1",
  });
  stored.append("x-multi", "1");
  stored.append("x-multi", "2");
  const merged = mergeNotModified(
    stored,
    new Headers({
      "cache-control": "max-age=60",
      "content-length": "0",
      "content-type": "text/plain",
      date: AFTER,
      connection: "close, x-hop",
      "x-hop": "1",
      "http2-settings": "AAMAAABkAAQAAP__",
      "x-multi": "3",
    }),
  );
  // Hop-by-hop fields, those the 304's Connection names included, never enter the store.
  assert.equal(merged.has("x-hop"), false);
  assert.equal(merged.has("http2-settings"), false);
  assert.equal(merged.get("cache-control"), "max-age=60");
  assert.equal(merged.get("date"), AFTER);
  assert.equal(merged.get("content-length"), "100");
  assert.equal(merged.get("content-type"), "video/mp2t");
  assert.equal(merged.get("x-keep"), "1");
  assert.equal(merged.get("x-multi"), "3");
  assert.equal(merged.has("connection"), false);
  assert.equal(merged.get("etag"), '"a"');
});
