import assert from "node:assert/strict";
import { stripHopByHop, stripHopByHopInPlace } from "./hop_by_hop.ts";

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
