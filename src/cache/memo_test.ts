import assert from "node:assert/strict";
import { withTimeout } from "../../tests/_support/timeout.ts";
import { cacheBytes, cacheEvictions, cacheObjects } from "./metrics.ts";
import { countingOrigin, serve, settled, testCache, testClock, WAIT_MS } from "./_testing.ts";

const wait = <T>(promise: Promise<T>, what: string) => withTimeout(promise, WAIT_MS, what);

Deno.test("HttpCache.memo() computes once per version, shared by concurrent callers", async () => {
  const { cache } = testCache();
  let computations = 0;
  const compute = (value: string) => async () => {
    computations++;
    await new Promise((r) => setTimeout(r, 20));
    return value;
  };
  try {
    const first = await wait(
      Promise.all(Array.from({ length: 5 }, () => cache.memo("k", "v1", compute("one")))),
      "five callers",
    );
    assert.deepEqual(first, ["one", "one", "one", "one", "one"]);
    assert.equal(computations, 1);
    assert.equal(await wait(cache.memo("k", "v1", compute("other")), "held"), "one");
    assert.equal(computations, 1);
    assert.equal(await wait(cache.memo("k", "v2", compute("two")), "new version"), "two");
    assert.equal(computations, 2);
    assert.equal(await wait(cache.memo("k", "v2", compute("x")), "held v2"), "two");
    // No version: computed every time, never held.
    assert.equal(await wait(cache.memo("k", null, compute("n")), "unversioned"), "n");
    assert.equal(await wait(cache.memo("k", "v2", compute("x")), "still v2"), "two");
    assert.equal(computations, 3);
  } finally {
    cache.close();
  }
});

Deno.test("HttpCache.memo() does not keep a failure, and gives it to every caller waiting", async () => {
  const { cache } = testCache();
  let attempts = 0;
  const failure = new Error("parse failed");
  try {
    const results = await wait(
      Promise.allSettled(Array.from({ length: 3 }, () =>
        cache.memo("bad", "v1", async () => {
          attempts++;
          await new Promise((r) => setTimeout(r, 10));
          throw failure;
        }))),
      "failing callers",
    );
    assert.equal(attempts, 1);
    assert.ok(results.every((r) => r.status === "rejected" && r.reason === failure));
    assert.equal(await wait(cache.memo("bad", "v1", () => Promise.resolve(42)), "retry"), 42);
    assert.equal(attempts, 1);
  } finally {
    cache.close();
  }
});

Deno.test("HttpCache.memoResponse() transforms a source once per version of it", async () => {
  let etag = '"m1"';
  const clock = testClock();
  const origin = await countingOrigin((request) => {
    const headers = { "cache-control": "max-age=0", etag };
    if (request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(`<MPD version=${etag}/>`, { headers });
  }, clock);
  const { cache } = testCache({}, clock);
  let transforms = 0;
  const transform = async (source: Response) => {
    transforms++;
    const text = await source.text();
    return new Response(`#EXTM3U from ${text}`, {
      headers: { "content-type": "application/vnd.apple.mpegurl" },
    });
  };
  const convert = async () => {
    const source = await serve(cache, origin, "/live.mpd", { kind: "playlist" });
    const response = await wait(
      cache.memoResponse("hls /live.mpd", source, transform),
      "memoResponse",
    );
    return await wait(response.text(), "converted body");
  };
  try {
    assert.equal(await convert(), '#EXTM3U from <MPD version="m1"/>');
    await settled(cache);
    // Revalidated (304) twice: the same version, so the conversion is answered from memory.
    assert.equal(await convert(), '#EXTM3U from <MPD version="m1"/>');
    assert.equal(await convert(), '#EXTM3U from <MPD version="m1"/>');
    assert.equal(origin.count(), 3);
    assert.equal(transforms, 1);
    etag = '"m2"';
    assert.equal(await convert(), '#EXTM3U from <MPD version="m2"/>');
    assert.equal(transforms, 2);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache.memoResponse() cancels the source body it does not need", async () => {
  const { cache } = testCache();
  let cancelled = 0;
  const source = (version: string | null) => ({
    response: new Response(
      new ReadableStream<Uint8Array>({
        pull: (c) => c.enqueue(new TextEncoder().encode("source")),
        cancel: () => void cancelled++,
      }),
    ),
    outcome: "hit" as const,
    version,
  });
  const firstLine = async (response: Response) => {
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    return new Response(`out of ${new TextDecoder().decode(value)}`);
  };
  try {
    const first = await wait(cache.memoResponse("out", source("v1"), firstLine), "first");
    assert.equal(await wait(first.text(), "first body"), "out of source");
    assert.equal(cancelled, 1);
    const held = await wait(cache.memoResponse("out", source("v1"), firstLine), "held");
    assert.equal(await wait(held.text(), "held body"), "out of source");
    assert.equal(cancelled, 2);
    // No version: transformed each time (the transform reads, then cancels, its source).
    const unversioned = await wait(cache.memoResponse("out", source(null), firstLine), "none");
    assert.equal(await wait(unversioned.text(), "unversioned body"), "out of source");
    assert.equal(cancelled, 3);
  } finally {
    cache.close();
  }
});

Deno.test("cache metrics: size gauges follow live caches; evictions are counted by reason", async () => {
  const value = async (metric: typeof cacheBytes) => (await metric.get()).values[0]?.value ?? 0;
  const evictions = async (reason: string) =>
    (await cacheEvictions.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const bytesBefore = await value(cacheBytes);
  const objectsBefore = await value(cacheObjects);
  const capacityBefore = await evictions("capacity");
  const clock = testClock();
  const origin = await countingOrigin(
    (_request, n) =>
      new Response("x".repeat(3000 + n), { headers: { "cache-control": "max-age=60" } }),
    clock,
  );
  const { cache } = testCache({ maxBytes: 10_000, maxObjectBytes: 5_000 }, clock);
  try {
    for (const path of ["/a", "/b", "/c", "/d"]) {
      await wait((await serve(cache, origin, path)).response.text(), path);
      await settled(cache);
    }
    assert.ok(cache.bytes <= 10_000, `bytes ${cache.bytes}`);
    assert.equal(cache.size, 2);
    assert.equal(await value(cacheBytes) - bytesBefore, cache.bytes);
    assert.equal(await value(cacheObjects) - objectsBefore, 2);
    assert.equal(await evictions("capacity") - capacityBefore, 2);
  } finally {
    cache.close();
    await origin.close();
  }
  assert.equal(await value(cacheBytes), bytesBefore);
  assert.equal(await value(cacheObjects), objectsBefore);
});

Deno.test("HttpCache.memoResponse(): a live output expires with its window; answers carry this request's Cache-Status", async () => {
  const clock = testClock();
  const { cache } = testCache({}, clock);
  let computations = 0;
  const live = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n";
  const source = (status: string) => ({
    response: new Response("source", { headers: { "cache-status": status } }),
    outcome: "hit" as const,
    version: "v1",
  });
  const transform = async (r: Response) => {
    computations++;
    await r.body?.cancel();
    return new Response(live, { headers: { "cache-status": "sprox; fwd=uri-miss", age: "9" } });
  };
  try {
    const first = await cache.memoResponse("out", source("sprox; fwd=uri-miss"), transform);
    assert.equal(await first.text(), live);
    const second = await cache.memoResponse("out", source("sprox; hit"), transform);
    assert.equal(second.headers.get("cache-status"), "sprox; hit");
    assert.equal(second.headers.get("age"), null);
    assert.equal(computations, 1);
    clock.advance(1.9);
    await cache.memoResponse("out", source("sprox; hit"), transform);
    assert.equal(computations, 1, "within half the target duration");
    clock.advance(0.2);
    await cache.memoResponse("out", source("sprox; hit"), transform);
    assert.equal(computations, 2, "the same source version, but the live window moved on");
  } finally {
    cache.close();
  }
});
