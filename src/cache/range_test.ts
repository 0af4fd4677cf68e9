import assert from "node:assert/strict";
import { contentRange, evaluateRange, ifRangeMatches, parseRange, rangeShape } from "./range.ts";

const LM = "Mon, 01 Jan 2024 12:00:00 GMT";

Deno.test("parseRange() answers the RFC 9110 §14.1.2 examples for a 10000-byte object", () => {
  const rows: [string, unknown][] = [
    ["bytes=0-499", { kind: "partial", start: 0, end: 499 }],
    ["bytes=500-999", { kind: "partial", start: 500, end: 999 }],
    ["bytes=-500", { kind: "partial", start: 9500, end: 9999 }],
    ["bytes=9500-", { kind: "partial", start: 9500, end: 9999 }],
    // Several ranges: answered with the whole object.
    ["bytes=0-0,-1", { kind: "full" }],
    ["bytes= 0-999, 4500-5499, -1000", { kind: "full" }],
  ];
  for (const [value, expected] of rows) assert.deepEqual(parseRange(value, 10000), expected, value);
});

Deno.test("parseRange() clips, refuses past the end, and ignores what it cannot parse", () => {
  const rows: [string, number, unknown][] = [
    ["bytes=0-99999", 1000, { kind: "partial", start: 0, end: 999 }],
    ["bytes=-5000", 1000, { kind: "partial", start: 0, end: 999 }],
    ["bytes=999-", 1000, { kind: "partial", start: 999, end: 999 }],
    ["Bytes=0-0", 1000, { kind: "partial", start: 0, end: 0 }],
    ["bytes=1000-", 1000, { kind: "unsatisfiable" }],
    ["bytes=1000-2000", 1000, { kind: "unsatisfiable" }],
    ["bytes=-0", 1000, { kind: "unsatisfiable" }],
    ["bytes=0-", 0, { kind: "unsatisfiable" }],
    ["bytes=-1", 0, { kind: "unsatisfiable" }],
    ["bytes=5-4", 1000, { kind: "full" }],
    ["bytes=-", 1000, { kind: "full" }],
    ["bytes=a-b", 1000, { kind: "full" }],
    ["items=0-5", 1000, { kind: "full" }],
    ["bytes=", 1000, { kind: "full" }],
  ];
  for (const [value, length, expected] of rows) {
    assert.deepEqual(parseRange(value, length), expected, `${value} of ${length}`);
  }
});

Deno.test("rangeShape() tells single, suffix, several and ignored ranges apart", () => {
  assert.deepEqual(rangeShape("bytes=100-"), { kind: "single", first: 100 });
  assert.deepEqual(rangeShape("bytes=7-9"), { kind: "single", first: 7 });
  assert.deepEqual(rangeShape("bytes=-9"), { kind: "single", first: null });
  assert.deepEqual(rangeShape("bytes=0-1,5-6"), { kind: "multiple" });
  assert.deepEqual(rangeShape("bytes=9-1"), { kind: "ignored" });
  assert.deepEqual(rangeShape("lines=1-2"), { kind: "ignored" });
});

Deno.test("If-Range keeps the range only for the same object (RFC 9110 §13.1.5)", () => {
  const stored = new Headers({ etag: '"v1"', "last-modified": LM });
  assert.equal(ifRangeMatches('"v1"', stored), true);
  assert.equal(ifRangeMatches('W/"v1"', stored), false);
  assert.equal(ifRangeMatches('"v2"', stored), false);
  assert.equal(ifRangeMatches(LM, stored), true);
  assert.equal(ifRangeMatches("Mon, 01 Jan 2024 12:00:01 GMT", stored), false);
  assert.equal(ifRangeMatches('"v1"', new Headers({ etag: 'W/"v1"' })), false);
  const request = (ifRange: string) => new Headers({ range: "bytes=0-9", "if-range": ifRange });
  assert.deepEqual(evaluateRange(request('"v1"'), 100, stored), {
    kind: "partial",
    start: 0,
    end: 9,
  });
  assert.deepEqual(evaluateRange(request('"v2"'), 100, stored), { kind: "full" });
  assert.deepEqual(evaluateRange(new Headers(), 100, stored), { kind: "full" });
});

Deno.test("contentRange() writes the RFC 9110 §14.4 forms", () => {
  assert.equal(contentRange(1234, 42, 1233), "bytes 42-1233/1234");
  assert.equal(contentRange(1234), "bytes */1234");
});
