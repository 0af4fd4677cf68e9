import assert from "node:assert/strict";
import { appendEndToEnd, copyHeaders, stripHopByHop, stripHopByHopInPlace } from "./hop_by_hop.ts";

Deno.test("stripHopByHop() removes hop-by-hop headers and those named by Connection", () => {
  const out = stripHopByHop(
    new Headers({
      connection: "close, X-Private",
      "x-private": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      upgrade: "h2c",
      "proxy-authorization": "Basic x",
      trailer: "x",
      te: "trailers",
      range: "bytes=0-1",
    }),
  );
  assert.deepEqual([...out.keys()], ["range"]);
});

Deno.test("stripHopByHopInPlace() removes hop-by-hop fields and those named by Connection", () => {
  const headers = new Headers({
    connection: "close, X-Private",
    "x-private": "1",
    "keep-alive": "timeout=5",
    "proxy-authenticate": "Basic",
    etag: '"v"',
  });
  stripHopByHopInPlace(headers);
  assert.deepEqual([...headers.keys()], ["etag"]);
});

Deno.test("copyHeaders() copies every field, Set-Cookie lines one by one", () => {
  const source = new Headers([
    ["etag", '"v1"'],
    ["set-cookie", "a=1; Path=/"],
    ["set-cookie", "b=2; Path=/"],
    ["x-multi", "one"],
    ["x-multi", "two"],
  ]);
  const copy = copyHeaders(source);
  assert.deepEqual([...copy], [...source]);
  assert.deepEqual(copy.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
  assert.equal(copy.get("x-multi"), "one, two");
  copy.set("etag", '"v2"');
  assert.equal(source.get("etag"), '"v1"', "a copy, not a view");
});

Deno.test("appendEndToEnd() keeps Set-Cookie lines and drops what Connection names", () => {
  const response = new Response(null, { status: 204 });
  appendEndToEnd(
    new Headers([
      ["connection", "x-hop"],
      ["x-hop", "1"],
      ["proxy-foo", "2"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["cache-control", "max-age=5"],
    ]),
    response.headers,
  );
  assert.deepEqual([...response.headers], [
    ["cache-control", "max-age=5"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ]);
});
