import assert from "node:assert/strict";
import type { UpstreamFetch } from "./cache.ts";
import { cacheRevalidations } from "./metrics.ts";
import {
  countingOrigin,
  serve,
  settled,
  testCache,
  type TestClock,
  testClock,
  text,
  upstream,
} from "./_testing.ts";

const IN_A_MINUTE = () => new Date(Date.now() + 60_000).toUTCString();

interface Case {
  readonly name: string;
  readonly headers: () => Record<string, string>;
  readonly kind?: "playlist" | "segment" | "other";
  readonly request?: Record<string, string>;
  /** Seconds between the two requests. */
  readonly after: number;
  readonly second: string;
  readonly body: string;
  readonly requests: number;
  readonly status: RegExp;
}

/** Two requests a given time apart, for each way an origin can talk about caching. */
const CASES: Case[] = [
  {
    name: "max-age: a hit while fresh",
    headers: () => ({ "cache-control": "max-age=60" }),
    after: 30,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(2[789]|30)$/,
  },
  {
    name: "max-age without validator: fetched again once expired",
    headers: () => ({ "cache-control": "max-age=10" }),
    after: 20,
    second: "miss",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; stored; ttl=([89]|10)$/,
  },
  {
    name: "no-store: never stored",
    headers: () => ({ "cache-control": "no-store, max-age=60" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=no-store$/,
  },
  {
    name: "private: never stored by a shared cache",
    headers: () => ({ "cache-control": "private, max-age=60" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=private$/,
  },
  {
    name: "s-maxage wins over max-age=0",
    headers: () => ({ "cache-control": "max-age=0, s-maxage=60" }),
    after: 30,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(2[789]|30)$/,
  },
  {
    name: "s-maxage shorter than max-age: revalidated with the ETag (304)",
    headers: () => ({ "cache-control": "max-age=600, s-maxage=5", etag: '"e1"' }),
    after: 10,
    second: "revalidated",
    body: "#1",
    requests: 2,
    status: /^sprox; fwd=stale; fwd-status=304; ttl=[3-5]$/,
  },
  {
    name: "no-cache: stored, revalidated on every use",
    headers: () => ({ "cache-control": "no-cache", etag: '"e2"' }),
    after: 0,
    second: "revalidated",
    body: "#1",
    requests: 2,
    status: /^sprox; fwd=stale; fwd-status=304; ttl=(-2|-1|0)$/,
  },
  {
    name: "max-age=0 with Last-Modified: revalidated with If-Modified-Since",
    headers: () => ({
      "cache-control": "max-age=0",
      "last-modified": "Mon, 01 Jan 2024 12:00:00 GMT",
    }),
    after: 1,
    second: "revalidated",
    body: "#1",
    requests: 2,
    status: /^sprox; fwd=stale; fwd-status=304; ttl=(-2|-1|0)$/,
  },
  {
    name: "no-cache without a validator: not kept (it could never be used)",
    headers: () => ({ "cache-control": "no-cache, max-age=60" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=no-cache$/,
  },
  {
    name: "Expires a minute ahead: a hit after 30 s",
    headers: () => ({ expires: IN_A_MINUTE() }),
    kind: "other",
    after: 30,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(2[789]|30)$/,
  },
  {
    name: "Expires: 0 means already expired",
    headers: () => ({ expires: "0" }),
    kind: "segment",
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=expired$/,
  },
  {
    name: "no freshness information: the segment default TTL",
    headers: () => ({}),
    kind: "segment",
    after: 100,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(19[789]|200)$/,
  },
  {
    name: "no freshness information: the kind inferred from the type",
    headers: () => ({ "content-type": "video/mp2t" }),
    after: 100,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(19[789]|200)$/,
  },
  {
    name: "no freshness information: 'other' defaults to not cached",
    headers: () => ({ "content-type": "application/json" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=expired$/,
  },
  {
    name: "Set-Cookie: never stored",
    headers: () => ({ "cache-control": "max-age=60", "set-cookie": "session=1" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=set-cookie$/,
  },
  {
    name: "Vary: * never stored",
    headers: () => ({ "cache-control": "max-age=60", vary: "*" }),
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=vary-star$/,
  },
  {
    name: "Authorization: not stored unless the origin says it is shared",
    headers: () => ({ "cache-control": "max-age=60" }),
    request: { authorization: "Bearer x" },
    after: 0,
    second: "uncacheable",
    body: "#2",
    requests: 2,
    status: /^sprox; fwd=uri-miss; detail=authorization$/,
  },
  {
    name: "Authorization with public: stored",
    headers: () => ({ "cache-control": "public, max-age=60" }),
    request: { authorization: "Bearer x" },
    after: 0,
    second: "hit",
    body: "#1",
    requests: 1,
    status: /^sprox; hit; ttl=(5[789]|60)$/,
  },
];

Deno.test("HttpCache honours each Cache-Control case between two requests", async (t) => {
  const scenarios = new Map<string, Case>(CASES.map((c, i) => [`/case${i}`, c]));
  let current = testClock();
  const clock: TestClock = { now: () => current.now(), advance: (s) => current.advance(s) };
  const origin = await countingOrigin((request, n) => {
    const path = new URL(request.url).pathname;
    const headers = scenarios.get(path)!.headers();
    const etag = headers.etag;
    const since = request.headers.get("if-modified-since");
    if (
      (etag && request.headers.get("if-none-match") === etag) ||
      (since && since === headers["last-modified"])
    ) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(`#${n}`, { headers });
  }, clock);
  try {
    for (const [path, c] of scenarios) {
      await t.step(c.name, async () => {
        current = testClock();
        const { cache, advance } = testCache({}, clock);
        try {
          const init = { headers: c.request ?? {}, kind: c.kind };
          assert.equal(await text(await serve(cache, origin, path, init)), "#1");
          await settled(cache);
          advance(c.after);
          const second = await serve(cache, origin, path, init);
          assert.equal(second.outcome, c.second);
          assert.equal(await text(second), c.body);
          assert.match(second.response.headers.get("cache-status") ?? "", c.status);
          assert.equal(origin.count(path), c.requests);
        } finally {
          await settled(cache);
          cache.close();
        }
      });
    }
  } finally {
    await origin.close();
  }
});

Deno.test("HttpCache answers conditional requests and ranges from a stored object", async () => {
  const body = "0123456789".repeat(10);
  const origin = await countingOrigin(() =>
    new Response(body, { headers: { "cache-control": "max-age=60", etag: '"v7"' } })
  );
  const { cache } = testCache();
  try {
    assert.equal(await text(await serve(cache, origin, "/obj")), body);
    await settled(cache);
    const notModified = await serve(cache, origin, "/obj", {
      headers: { "if-none-match": '"v7"' },
    });
    assert.equal(notModified.response.status, 304);
    assert.equal(notModified.outcome, "hit");
    assert.equal(notModified.response.headers.get("etag"), '"v7"');
    assert.match(notModified.response.headers.get("cache-status")!, /^sprox; hit; ttl=/);
    const partial = await serve(cache, origin, "/obj", { headers: { range: "bytes=95-" } });
    assert.equal(partial.response.status, 206);
    assert.equal(partial.response.headers.get("content-range"), "bytes 95-99/100");
    assert.equal(await text(partial), "56789");
    const suffix = await serve(cache, origin, "/obj", { headers: { range: "bytes=-3" } });
    assert.equal(await text(suffix), "789");
    const refused = await serve(cache, origin, "/obj", { headers: { range: "bytes=100-" } });
    assert.equal(refused.response.status, 416);
    assert.equal(refused.response.headers.get("content-range"), "bytes */100");
    assert.equal(origin.count(), 1);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache fetches the whole object for a range miss, and forwards ranges it cannot use", async () => {
  const body = "abcdefghijklmnopqrstuvwxyz";
  const origin = await countingOrigin((request) => {
    const range = request.headers.get("range");
    if (range === "bytes=-4") {
      return new Response("wxyz", {
        status: 206,
        headers: { "content-range": "bytes 22-25/26", "cache-control": "max-age=60" },
      });
    }
    return new Response(body, { headers: { "cache-control": "max-age=60" } });
  });
  const { cache } = testCache({ maxObjectBytes: 1000 });
  try {
    const ranged = await serve(cache, origin, "/r", { headers: { range: "bytes=10-14" } });
    assert.equal(ranged.response.status, 206);
    assert.equal(ranged.response.headers.get("content-range"), "bytes 10-14/26");
    assert.equal(await text(ranged), "klmno");
    assert.equal(origin.seen[0].headers.has("range"), false);
    await settled(cache);
    const whole = await serve(cache, origin, "/r");
    assert.equal(whole.outcome, "hit");
    assert.equal(await text(whole), body);
    // A suffix range on an object the cache does not hold goes to the origin as it is.
    const tail = await serve(cache, origin, "/tail", { headers: { range: "bytes=-4" } });
    assert.equal(tail.outcome, "bypass");
    assert.equal(tail.response.status, 206);
    assert.equal(tail.response.headers.get("cache-status"), "sprox; fwd=bypass; detail=range");
    assert.equal(await text(tail), "wxyz");
    assert.equal(origin.seen.at(-1)!.headers.get("range"), "bytes=-4");
    const far = await serve(cache, origin, "/far", { headers: { range: "bytes=5000-" } });
    assert.equal(far.outcome, "bypass");
    await text(far);
    assert.equal(origin.seen.at(-1)!.headers.get("range"), "bytes=5000-");
    assert.equal(origin.count(), 3);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

async function revalidations(result: string): Promise<number> {
  const metric = await cacheRevalidations.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

Deno.test("HttpCache: stale-while-revalidate serves stale, revalidates once, then serves fresh", async () => {
  const notModifiedBefore = await revalidations("not_modified");
  const gate = Promise.withResolvers<void>();
  const clock = testClock();
  const origin = await countingOrigin(async (request, n) => {
    const headers = { "cache-control": "max-age=10, stale-while-revalidate=30", etag: '"s1"' };
    if (request.headers.get("if-none-match") === '"s1"') {
      await gate.promise;
      return new Response(null, { status: 304, headers });
    }
    return new Response(`body ${n}`, { headers });
  }, clock);
  const { cache, advance } = testCache({}, clock);
  try {
    assert.equal(await text(await serve(cache, origin, "/live.m3u8", { kind: "other" })), "body 1");
    await settled(cache);
    advance(15);
    const stale = await Promise.all(
      Array.from({ length: 5 }, () => serve(cache, origin, "/live.m3u8", { kind: "other" })),
    );
    for (const result of stale) {
      assert.equal(result.outcome, "stale");
      assert.match(
        result.response.headers.get("cache-status")!,
        /^sprox; hit; ttl=-[5-7]; detail=stale-while-revalidate$/,
      );
      assert.equal(await text(result), "body 1");
    }
    gate.resolve();
    await settled(cache);
    assert.equal(origin.count(), 2);
    assert.equal(origin.seen[1].headers.get("if-none-match"), '"s1"');
    assert.equal(await revalidations("not_modified") - notModifiedBefore, 1);
    const fresh = await serve(cache, origin, "/live.m3u8", { kind: "other" });
    assert.equal(fresh.outcome, "hit");
    assert.equal(await text(fresh), "body 1");
    assert.equal(origin.count(), 2);
  } finally {
    gate.resolve();
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: stale-while-revalidate takes a changed object in the background", async () => {
  const clock = testClock();
  const origin = await countingOrigin(
    (_request, n) =>
      new Response(`version ${n}`, { headers: { "cache-control": "max-age=10", etag: `"${n}"` } }),
    clock,
  );
  const { cache, advance } = testCache({ staleWhileRevalidateSecs: 30 }, clock);
  try {
    const first = await serve(cache, origin, "/p");
    assert.equal(await text(first), "version 1");
    await settled(cache);
    advance(12);
    const stale = await serve(cache, origin, "/p");
    assert.equal(await text(stale), "version 1");
    assert.equal(stale.version, first.version);
    await settled(cache);
    const next = await serve(cache, origin, "/p");
    assert.equal(next.outcome, "hit");
    assert.equal(await text(next), "version 2");
    assert.notEqual(next.version, first.version);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: stale-if-error serves the stale object when the origin fails, within the window", async () => {
  const errorsBefore = await revalidations("error");
  let mode: "ok" | "503" | "throw" = "ok";
  const clock = testClock();
  const origin = await countingOrigin((_request, n) => {
    if (mode === "503") return new Response("down", { status: 503 });
    return new Response(`body ${n}`, {
      headers: { "cache-control": "max-age=10, stale-if-error=60" },
    });
  }, clock);
  const fetcher: UpstreamFetch = (request) =>
    mode === "throw" ? Promise.reject(new Error("refused")) : upstream(request);
  const { cache, advance } = testCache({}, clock);
  try {
    assert.equal(await text(await serve(cache, origin, "/s", {}, fetcher)), "body 1");
    await settled(cache);
    advance(20);
    mode = "503";
    const results = await Promise.all(
      Array.from({ length: 3 }, () => serve(cache, origin, "/s", {}, fetcher)),
    );
    assert.equal(origin.count(), 2);
    for (const result of results) {
      assert.equal(result.outcome, "stale");
      assert.equal(result.response.status, 200);
      assert.equal(await text(result), "body 1");
      assert.match(
        result.response.headers.get("cache-status")!,
        /^sprox; fwd=stale; fwd-status=503; ttl=-1[0-2]; detail=stale-if-error$/,
      );
    }
    mode = "throw";
    const thrown = await serve(cache, origin, "/s", {}, fetcher);
    assert.equal(thrown.outcome, "stale");
    assert.match(
      thrown.response.headers.get("cache-status")!,
      /^sprox; fwd=stale; ttl=-1[0-2]; detail=stale-if-error$/,
    );
    assert.equal(await text(thrown), "body 1");
    assert.equal(await revalidations("error") - errorsBefore, 2);
    // Past the window the failure is the answer.
    advance(80);
    mode = "503";
    const failed = await serve(cache, origin, "/s", {}, fetcher);
    assert.equal(failed.response.status, 503);
    assert.equal(await text(failed), "down");
    mode = "throw";
    await assert.rejects(serve(cache, origin, "/s", {}, fetcher), /refused/);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: must-revalidate forbids stale-if-error", async () => {
  let down = false;
  const clock = testClock();
  const origin = await countingOrigin(
    () =>
      down ? new Response("down", { status: 502 }) : new Response("ok", {
        headers: { "cache-control": "max-age=10, must-revalidate, stale-if-error=60" },
      }),
    clock,
  );
  const { cache, advance } = testCache({ staleIfErrorSecs: 60 }, clock);
  try {
    assert.equal(await text(await serve(cache, origin, "/m")), "ok");
    await settled(cache);
    advance(20);
    down = true;
    const failed = await serve(cache, origin, "/m");
    assert.equal(failed.response.status, 502);
    assert.equal(await text(failed), "down");
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a live media playlist lives at most half its target duration", async () => {
  const live = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:6,\ns1.ts\n";
  const clock = testClock();
  const origin = await countingOrigin((request, n) => {
    const ended = new URL(request.url).pathname === "/vod.m3u8" ? "#EXT-X-ENDLIST\n" : "";
    return new Response(`${live}#n=${n}\n${ended}`, {
      headers: {
        "cache-control": "max-age=60",
        "content-type": "application/vnd.apple.mpegurl",
      },
    });
  }, clock);
  const { cache, advance } = testCache({}, clock);
  try {
    await text(await serve(cache, origin, "/live.m3u8"));
    await text(await serve(cache, origin, "/vod.m3u8"));
    await settled(cache);
    advance(1.5);
    const early = await serve(cache, origin, "/live.m3u8");
    assert.equal(early.outcome, "hit");
    assert.match(early.response.headers.get("cache-status")!, /^sprox; hit; ttl=[01]$/);
    assert.match(await text(early), /#n=1/);
    advance(2);
    const late = await serve(cache, origin, "/live.m3u8");
    assert.equal(late.outcome, "miss");
    assert.match(await text(late), /#n=2/);
    advance(30);
    const vod = await serve(cache, origin, "/vod.m3u8");
    assert.equal(vod.outcome, "hit");
    assert.match(await text(vod), /#n=1/);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a 304 for another ETag than the stored one makes the cache fetch the whole object", async () => {
  const clock = testClock();
  const origin = await countingOrigin((request, n) => {
    if (request.headers.has("if-none-match")) {
      return new Response(null, { status: 304, headers: { etag: '"other"' } });
    }
    return new Response(`full ${n}`, { headers: { "cache-control": "max-age=5", etag: `"${n}"` } });
  }, clock);
  const { cache, advance } = testCache({}, clock);
  try {
    assert.equal(await text(await serve(cache, origin, "/e")), "full 1");
    await settled(cache);
    advance(10);
    const again = await serve(cache, origin, "/e");
    assert.equal(await text(again), "full 3");
    assert.equal(again.outcome, "miss");
    assert.deepEqual(origin.seen.map((s) => s.headers.get("if-none-match")), [null, '"1"', null]);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});
