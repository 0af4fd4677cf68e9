import assert from "node:assert/strict";
import { bytesResponse, inMemoryBody } from "./memory_body.ts";

Deno.test("bytesResponse() keeps status, reason and every field of a Headers object", async () => {
  const fields = new Headers([
    ["content-type", "application/vnd.apple.mpegurl"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["etag", '"v"'],
  ]);
  const bytes = new TextEncoder().encode("#EXTM3U\n");
  const response = bytesResponse(bytes, { status: 203, statusText: "Fine", headers: fields });
  assert.equal(response.status, 203);
  assert.equal(response.statusText, "Fine");
  assert.deepEqual([...response.headers], [...fields]);
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(inMemoryBody(response), bytes);
  // Its own fields: changing them leaves the source alone.
  response.headers.set("etag", '"w"');
  assert.equal(fields.get("etag"), '"v"');
  assert.equal(await response.text(), "#EXTM3U\n");
});

Deno.test("bytesResponse() takes fields as a record or pairs too", () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const fromRecord = bytesResponse(bytes, { status: 200, headers: { "x-a": "1" } });
  const fromPairs = bytesResponse(bytes, { status: 206, headers: [["x-b", "2"]] });
  assert.equal(fromRecord.headers.get("x-a"), "1");
  assert.deepEqual([fromPairs.status, fromPairs.headers.get("x-b")], [206, "2"]);
  assert.equal(inMemoryBody(new Response(bytes)), undefined);
});
