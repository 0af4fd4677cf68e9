import assert from "node:assert/strict";
import { withTimeout } from "../../tests/_support/timeout.ts";
import { Fill } from "./fill.ts";
import { type CachedObject, declaredLength, respondFromObject, storedHeaders } from "./respond.ts";

const BODY = "0123456789abcdefghij";
const LM = "Mon, 01 Jan 2024 12:00:00 GMT";

async function stored(headers: Record<string, string> = {}, status = 200): Promise<CachedObject> {
  const fill = new Fill(new Response(BODY).body, { maxBytes: 1024 });
  await withTimeout(fill.ended, 5_000, "the stored body");
  return {
    status,
    statusText: "",
    headers: new Headers({
      etag: '"v1"',
      "last-modified": LM,
      "content-type": "video/mp2t",
      ...headers,
    }),
    body: fill,
    length: fill.length,
  };
}

function respond(object: CachedObject, headers: Record<string, string> = {}, method = "GET") {
  return respondFromObject(new Request("http://cache.test/a", { method, headers }), object, {
    cacheStatus: "sprox; hit; ttl=5",
    ageSecs: 7.8,
  });
}

const text = (response: Response) => withTimeout(response.text(), 5_000, "body");

Deno.test("respondFromObject() answers the whole object with Age, Cache-Status and its length", async () => {
  const response = respond(await stored({ "cache-status": "Origin; hit" }));
  assert.equal(response.status, 200);
  assert.equal(await text(response), BODY);
  assert.equal(response.headers.get("age"), "7");
  assert.equal(response.headers.get("cache-status"), "Origin; hit, sprox; hit; ttl=5");
  assert.equal(response.headers.get("content-length"), "20");
  assert.equal(response.headers.get("accept-ranges"), "bytes");
  assert.equal(response.headers.get("etag"), '"v1"');
});

Deno.test("respondFromObject() answers a matching conditional with 304 and no body", async () => {
  const conditionals: Record<string, string>[] = [{ "if-none-match": 'W/"v1"' }, {
    "if-modified-since": LM,
  }];
  for (const headers of conditionals) {
    const response = respond(await stored({ "cache-control": "max-age=60" }), headers);
    assert.equal(response.status, 304);
    assert.equal(response.body, null);
    assert.equal(response.headers.get("etag"), '"v1"');
    assert.equal(response.headers.get("cache-control"), "max-age=60");
    assert.equal(response.headers.get("age"), "7");
    assert.equal(response.headers.get("cache-status"), "sprox; hit; ttl=5");
    assert.equal(response.headers.has("content-type"), false);
  }
  const changed = respond(await stored(), { "if-none-match": '"v0"' });
  assert.equal(changed.status, 200);
  assert.equal(await text(changed), BODY);
  const failed = respond(await stored(), { "if-match": '"v0"' });
  assert.equal(failed.status, 412);
  assert.equal(failed.headers.get("cache-status"), "sprox; hit; ttl=5");
});

Deno.test("respondFromObject() answers Range with 206, or 416 with the length", async () => {
  const partial = respond(await stored(), { range: "bytes=5-9" });
  assert.equal(partial.status, 206);
  assert.equal(partial.headers.get("content-range"), "bytes 5-9/20");
  assert.equal(partial.headers.get("content-length"), "5");
  assert.equal(await text(partial), "56789");
  const suffix = respond(await stored(), { range: "bytes=-3" });
  assert.equal(await text(suffix), "hij");
  const refused = respond(await stored(), { range: "bytes=20-" });
  assert.equal(refused.status, 416);
  assert.equal(refused.headers.get("content-range"), "bytes */20");
  assert.equal(refused.body, null);
  // An If-Range for another version: the whole object.
  const whole = respond(await stored(), { range: "bytes=5-9", "if-range": '"v0"' });
  assert.equal(whole.status, 200);
  assert.equal(await text(whole), BODY);
  // Several ranges: the whole object.
  const several = respond(await stored(), { range: "bytes=0-1,5-6" });
  assert.equal(several.status, 200);
  assert.equal(await text(several), BODY);
});

Deno.test("respondFromObject() answers HEAD without a body and ignores Range on it", async () => {
  const object = await stored();
  const head = respond(object, { range: "bytes=0-1" }, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), "20");
  assert.equal(object.body!.readerCount, 0);
});

Deno.test("respondFromObject() answers a non-200 as it is, without ranges", async () => {
  const notFound = respond(await stored({}, 404), { range: "bytes=0-1" });
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers.has("content-range"), false);
  assert.equal(await text(notFound), BODY);
});

Deno.test("storedHeaders() drops hop-by-hop fields; declaredLength() reads Content-Length", () => {
  const headers = storedHeaders(
    new Headers({
      connection: "keep-alive, x-hop",
      "keep-alive": "timeout=5",
      "x-hop": "1",
      "transfer-encoding": "chunked",
      etag: '"e"',
    }),
  );
  assert.deepEqual([...headers.keys()], ["etag"]);
  assert.equal(declaredLength(new Headers({ "content-length": "42" })), 42);
  assert.equal(declaredLength(new Headers({ "content-length": "4x" })), null);
  assert.equal(declaredLength(new Headers()), null);
});
