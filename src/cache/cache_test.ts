import assert from "node:assert/strict";
import { checkPattern, patternStream } from "../../tests/_support/origins.ts";
import { withTimeout } from "../../tests/_support/timeout.ts";
import type { UpstreamFetch } from "./cache.ts";
import { cacheCoalesced, cacheRequests } from "./metrics.ts";
import {
  countingOrigin,
  serve,
  settled,
  testCache,
  testClock,
  text,
  upstream,
  WAIT_MS,
} from "./_testing.ts";

async function counterValue(
  counter: typeof cacheRequests | typeof cacheCoalesced,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await counter.get();
  const match = metric.values.find((v) =>
    Object.entries(labels).every(([k, value]) => (v.labels as Record<string, unknown>)[k] === value)
  );
  return match?.value ?? 0;
}

Deno.test("HttpCache: 50 parallel requests for one object make one origin request, bodies byte-exact", async () => {
  const total = 2 * 1024 * 1024;
  const origin = await countingOrigin(() =>
    new Response(patternStream(total, 32 * 1024), {
      headers: {
        "content-type": "video/mp2t",
        "content-length": String(total),
        "cache-control": "max-age=60",
      },
    })
  );
  const { cache } = testCache({ maxObjectBytes: 4 * 1024 * 1024 });
  const coalescedBefore = await counterValue(cacheCoalesced);
  const hitsBefore = await counterValue(cacheRequests, { outcome: "hit" });
  try {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => serve(cache, origin, "/seg1.ts")),
    );
    const bodies = await withTimeout(
      Promise.all(results.map((r) => checkPattern(r.response.body!))),
      WAIT_MS,
      "50 bodies",
    );
    assert.equal(origin.count(), 1);
    for (const body of bodies) assert.deepEqual(body, { bytes: total, mismatches: 0 });
    const outcomes = results.map((r) => r.outcome).sort();
    assert.deepEqual(outcomes, ["miss", ...Array(49).fill("coalesced")].sort());
    assert.equal(results[0].response.status, 200);
    assert.equal(results[0].response.headers.get("content-length"), String(total));
    const statuses = results.map((r) => r.response.headers.get("cache-status"));
    // ttl: 60 s less the age the (second-granular, server-cached) Date header implies.
    const leaderStatus = /^sprox; fwd=uri-miss; stored; ttl=(5[89]|60)$/;
    const joinerStatus = /^sprox; fwd=uri-miss; stored; collapsed; ttl=(5[89]|60)$/;
    assert.equal(statuses.filter((s) => leaderStatus.test(s!)).length, 1);
    assert.equal(statuses.filter((s) => joinerStatus.test(s!)).length, 49);
    assert.equal(await counterValue(cacheCoalesced) - coalescedBefore, 49);
    await settled(cache);
    const hit = await serve(cache, origin, "/seg1.ts");
    assert.equal(hit.outcome, "hit");
    assert.match(hit.response.headers.get("cache-status")!, /^sprox; hit; ttl=(5[89]|60)$/);
    assert.deepEqual(await withTimeout(checkPattern(hit.response.body!), WAIT_MS, "hit body"), {
      bytes: total,
      mismatches: 0,
    });
    assert.equal(hit.version, results[0].version);
    assert.equal(origin.count(), 1);
    assert.equal(await counterValue(cacheRequests, { outcome: "hit" }) - hitsBefore, 1);
    assert.ok(cache.bytes >= total && cache.bytes < total + 4096, `bytes ${cache.bytes}`);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a late joiner gets the bytes already fetched without waiting for the rest", async () => {
  const gate = Promise.withResolvers<void>();
  const origin = await countingOrigin(() => {
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("first-half|"));
        await gate.promise;
        controller.enqueue(new TextEncoder().encode("second-half"));
        controller.close();
      },
    });
    return new Response(body, {
      headers: { "cache-control": "max-age=60", "content-type": "video/mp2t" },
    });
  });
  const { cache } = testCache();
  try {
    const leader = await serve(cache, origin, "/seg2.ts");
    const leaderReader = leader.response.body!.getReader();
    const first = await withTimeout(leaderReader.read(), WAIT_MS, "leader's first bytes");
    assert.equal(new TextDecoder().decode(first.value), "first-half|");
    // The origin is still holding back the rest: a joiner gets the stored part now.
    const joiner = await serve(cache, origin, "/seg2.ts");
    assert.equal(joiner.outcome, "coalesced");
    const joinerReader = joiner.response.body!.getReader();
    const early = await withTimeout(joinerReader.read(), WAIT_MS, "joiner's first bytes");
    assert.equal(new TextDecoder().decode(early.value), "first-half|");
    gate.resolve();
    const rest = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
      let out = "";
      for (;;) {
        const { value, done } = await withTimeout(reader.read(), WAIT_MS, "rest");
        if (done) return out;
        out += new TextDecoder().decode(value);
      }
    };
    assert.equal(await rest(leaderReader), "second-half");
    assert.equal(await rest(joinerReader), "second-half");
    assert.equal(origin.count(), 1);
    await settled(cache);
    const hit = await serve(cache, origin, "/seg2.ts");
    assert.equal(await text(hit), "first-half|second-half");
    assert.equal(hit.outcome, "hit");
  } finally {
    gate.resolve();
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a failure before headers reaches every joiner as the same error", async () => {
  const { cache } = testCache();
  let calls = 0;
  const failure = new Error("connect refused");
  const failing: UpstreamFetch = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 30));
    throw failure;
  };
  const errorsBefore = await counterValue(cacheRequests, { outcome: "error" });
  try {
    const origin = { url: "http://127.0.0.1:9", port: 9, close: async () => {} };
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => serve(cache, origin, "/seg3.ts", {}, failing)),
    );
    assert.equal(calls, 1);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.equal((result as PromiseRejectedResult).reason, failure);
    }
    assert.equal(await counterValue(cacheRequests, { outcome: "error" }) - errorsBefore, 10);
  } finally {
    cache.close();
  }
});

Deno.test("HttpCache: an origin 5xx reaches every joiner with its status and body, and is not stored", async () => {
  const origin = await countingOrigin(async () => {
    await new Promise((r) => setTimeout(r, 30));
    return new Response("origin down", { status: 503, headers: { "retry-after": "1" } });
  });
  const { cache } = testCache();
  try {
    const results = await Promise.all(
      Array.from({ length: 10 }, () => serve(cache, origin, "/seg4.ts")),
    );
    assert.equal(origin.count(), 1);
    for (const result of results) {
      assert.equal(result.response.status, 503);
      assert.equal(result.response.headers.get("retry-after"), "1");
      assert.equal(await text(result), "origin down");
      assert.equal(result.version, null);
    }
    assert.deepEqual(
      results.map((r) => r.outcome).sort(),
      ["uncacheable", ...Array(9).fill("coalesced")].sort(),
    );
    assert.equal(
      results.find((r) => r.outcome === "uncacheable")!.response.headers.get("cache-status"),
      "sprox; fwd=uri-miss; detail=status",
    );
    await settled(cache);
    const again = await serve(cache, origin, "/seg4.ts");
    assert.equal(await text(again), "origin down");
    assert.equal(origin.count(), 2);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: requests waiting on a private response each make their own request", async () => {
  const origin = await countingOrigin(async (_request, n) => {
    await new Promise((r) => setTimeout(r, 30));
    return new Response(`for request ${n}`, {
      headers: { "cache-control": "private, max-age=60" },
    });
  });
  const { cache } = testCache();
  try {
    const results = await Promise.all(Array.from({ length: 5 }, () => serve(cache, origin, "/me")));
    const bodies = await Promise.all(results.map(text));
    assert.equal(origin.count(), 5);
    assert.deepEqual(bodies.sort(), [1, 2, 3, 4, 5].map((n) => `for request ${n}`));
    assert.ok(results.every((r) => r.outcome === "uncacheable"));
    assert.ok(
      results.every((r) =>
        r.response.headers.get("cache-status") === "sprox; fwd=uri-miss; detail=private"
      ),
    );
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: objects above max_object_bytes stream through, shared but not stored", async () => {
  const total = 256 * 1024;
  const origin = await countingOrigin((request) => {
    const declare = new URL(request.url).pathname === "/declared.ts";
    return new Response(patternStream(total, 16 * 1024), {
      headers: {
        "cache-control": "max-age=60",
        ...(declare ? { "content-length": String(total) } : {}),
      },
    });
  });
  const { cache } = testCache({ maxObjectBytes: 64 * 1024 });
  try {
    // Declared too large: passed straight through.
    const single = await serve(cache, origin, "/declared.ts");
    assert.equal(single.outcome, "uncacheable");
    assert.equal(
      single.response.headers.get("cache-status"),
      "sprox; fwd=uri-miss; detail=too-large",
    );
    assert.deepEqual(
      await withTimeout(checkPattern(single.response.body!), WAIT_MS, "single body"),
      { bytes: total, mismatches: 0 },
    );
    // Found too large while streaming (no Content-Length): three readers share one exchange.
    const results = await Promise.all(
      Array.from({ length: 3 }, () => serve(cache, origin, "/chunked.ts")),
    );
    const bodies = await withTimeout(
      Promise.all(results.map((r) => checkPattern(r.response.body!))),
      WAIT_MS,
      "bodies",
    );
    for (const body of bodies) assert.deepEqual(body, { bytes: total, mismatches: 0 });
    assert.equal(origin.count("/chunked.ts"), 1);
    await settled(cache);
    assert.equal(cache.bytes, 0);
    // A request arriving once the object has outgrown the limit cannot join: its own request.
    const leader = await serve(cache, origin, "/late.ts");
    const reader = leader.response.body!.getReader();
    let read = 0;
    while (read <= 64 * 1024) {
      const { value } = await withTimeout(reader.read(), WAIT_MS, "leader past the limit");
      read += value!.byteLength;
    }
    const late = await serve(cache, origin, "/late.ts");
    assert.equal(late.outcome, "miss");
    assert.equal(origin.count("/late.ts"), 2);
    assert.deepEqual(await withTimeout(checkPattern(late.response.body!), WAIT_MS, "late body"), {
      bytes: total,
      mismatches: 0,
    });
    await reader.cancel();
    for (const path of ["/declared.ts", "/chunked.ts"]) {
      const again = await serve(cache, origin, path);
      assert.deepEqual(
        await withTimeout(checkPattern(again.response.body!), WAIT_MS, "again body"),
        { bytes: total, mismatches: 0 },
      );
      assert.equal(origin.count(path), 2);
    }
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: the client that started an exchange leaving does not end it for the others", async () => {
  const total = 512 * 1024;
  const origin = await countingOrigin(() =>
    new Response(patternStream(total, 16 * 1024), { headers: { "cache-control": "max-age=60" } })
  );
  const { cache } = testCache();
  try {
    const client = new AbortController();
    const leader = await serve(cache, origin, "/seg5.ts", { signal: client.signal });
    const joiner = await serve(cache, origin, "/seg5.ts");
    const reader = leader.response.body!.getReader();
    await withTimeout(reader.read(), WAIT_MS, "leader's first chunk");
    client.abort();
    await reader.cancel();
    assert.deepEqual(await withTimeout(checkPattern(joiner.response.body!), WAIT_MS, "joiner"), {
      bytes: total,
      mismatches: 0,
    });
    await settled(cache);
    const hit = await serve(cache, origin, "/seg5.ts");
    assert.equal(hit.outcome, "hit");
    assert.deepEqual(await withTimeout(checkPattern(hit.response.body!), WAIT_MS, "hit body"), {
      bytes: total,
      mismatches: 0,
    });
    assert.equal(origin.count(), 1);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: Vary keeps variants apart and coalesces each with its own", async () => {
  const origin = await countingOrigin(async (request) => {
    await new Promise((r) => setTimeout(r, 20));
    const encoding = request.headers.get("accept-encoding");
    return new Response(`encoded as ${encoding}`, {
      headers: { "cache-control": "max-age=60", vary: "Accept-Encoding" },
    });
  });
  const { cache } = testCache();
  const ask = (encoding: string) =>
    serve(cache, origin, "/v", { headers: { "accept-encoding": encoding } });
  try {
    const first = await Promise.all([ask("gzip"), ask("identity"), ask("gzip"), ask("identity")]);
    assert.deepEqual(await Promise.all(first.map(text)), [
      "encoded as gzip",
      "encoded as identity",
      "encoded as gzip",
      "encoded as identity",
    ]);
    assert.equal(origin.count(), 2);
    await settled(cache);
    const gzip = await ask("gzip");
    const identity = await ask("identity");
    assert.deepEqual([gzip.outcome, identity.outcome], ["hit", "hit"]);
    assert.equal(await text(gzip), "encoded as gzip");
    assert.equal(await text(identity), "encoded as identity");
    const br = await ask("br");
    assert.match(
      br.response.headers.get("cache-status")!,
      /^sprox; fwd=vary-miss; stored; ttl=(5[89]|60)$/,
    );
    assert.equal(await text(br), "encoded as br");
    assert.equal(origin.count(), 3);
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a response that stops varying retires the old variants", async () => {
  const clock = testClock();
  let vary = true;
  const origin = await countingOrigin((_request, n) =>
    new Response(`body ${n}`, {
      headers: { "cache-control": "max-age=10", ...(vary ? { vary: "accept-encoding" } : {}) },
    }), clock);
  const { cache, advance } = testCache({}, clock);
  const ask = (encoding: string) =>
    serve(cache, origin, "/nv", { headers: { "accept-encoding": encoding } });
  try {
    assert.equal(await text(await ask("gzip")), "body 1");
    await settled(cache);
    advance(20);
    vary = false;
    assert.equal(await text(await ask("gzip")), "body 2");
    await settled(cache);
    const other = await ask("identity");
    assert.equal(other.outcome, "hit");
    assert.equal(await text(other), "body 2");
    assert.equal(origin.count(), 2);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: methods other than GET/HEAD pass through; a successful one invalidates", async () => {
  const origin = await countingOrigin(async (request, n) => {
    const body = request.method === "POST" ? await request.text() : `version ${n}`;
    const status = body === "refused" ? 403 : 200;
    return new Response(body, { status, headers: { "cache-control": "max-age=60" } });
  });
  const { cache } = testCache();
  try {
    assert.equal(await text(await serve(cache, origin, "/doc")), "version 1");
    await settled(cache);
    assert.equal((await serve(cache, origin, "/doc")).outcome, "hit");
    // A refused unsafe request changed nothing: the stored object stays.
    const refused = await serve(cache, origin, "/doc", { method: "POST", body: "refused" });
    assert.equal(refused.response.status, 403);
    await text(refused);
    assert.equal((await serve(cache, origin, "/doc")).outcome, "hit");
    const post = await serve(cache, origin, "/doc", { method: "POST", body: "posted" });
    assert.equal(post.outcome, "bypass");
    assert.equal(post.response.headers.get("cache-status"), "sprox; fwd=method");
    assert.equal(await text(post), "posted");
    const after = await serve(cache, origin, "/doc");
    assert.equal(after.outcome, "miss");
    assert.equal(await text(after), "version 4");
  } finally {
    await settled(cache);
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: HEAD is answered from the cache, and a HEAD miss fills it with a GET", async () => {
  const origin = await countingOrigin(() =>
    new Response("segment bytes", {
      headers: { "cache-control": "max-age=60", "content-type": "video/mp2t" },
    })
  );
  const { cache } = testCache();
  try {
    const head = await serve(cache, origin, "/h.ts", { method: "HEAD" });
    assert.equal(head.outcome, "miss");
    assert.equal(head.response.body, null);
    assert.equal(head.response.headers.get("content-length"), "13");
    assert.deepEqual(origin.seen.map((s) => s.method), ["GET"]);
    await settled(cache);
    const get = await serve(cache, origin, "/h.ts");
    assert.equal(get.outcome, "hit");
    assert.equal(await text(get), "segment bytes");
    const head2 = await serve(cache, origin, "/h.ts", { method: "HEAD" });
    assert.equal(head2.outcome, "hit");
    assert.equal(head2.response.body, null);
    assert.equal(origin.count(), 1);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: only-if-cached gets 504 on a miss and the object on a hit", async () => {
  const origin = await countingOrigin(() =>
    new Response("x", { headers: { "cache-control": "max-age=60" } })
  );
  const { cache } = testCache();
  const onlyIfCached = { headers: { "cache-control": "only-if-cached" } };
  try {
    const miss = await serve(cache, origin, "/o", onlyIfCached);
    assert.equal(miss.response.status, 504);
    assert.equal(miss.response.headers.get("cache-status"), "sprox; detail=only-if-cached");
    assert.equal(origin.count(), 0);
    await text(await serve(cache, origin, "/o"));
    await settled(cache);
    const hit = await serve(cache, origin, "/o", onlyIfCached);
    assert.equal(hit.outcome, "hit");
    assert.equal(await text(hit), "x");
    // A client's no-cache does not reach the origin: the edge protects it.
    const reload = await serve(cache, origin, "/o", {
      headers: { "cache-control": "no-cache", pragma: "no-cache" },
    });
    assert.equal(reload.outcome, "hit");
    await text(reload);
    assert.equal(origin.count(), 1);
  } finally {
    cache.close();
    await origin.close();
  }
});

Deno.test("HttpCache: a fetcher that ignores the cache's request still sees no client conditionals", async () => {
  const { cache } = testCache();
  const sent: Headers[] = [];
  const recording: UpstreamFetch = (request) => {
    sent.push(request.headers);
    return Promise.resolve(
      new Response("abc", { headers: { "cache-control": "max-age=60", etag: '"e"' } }),
    );
  };
  try {
    const origin = { url: "http://origin.test", port: 80, close: async () => {} };
    const result = await serve(cache, origin, "/c", {
      headers: {
        "if-none-match": '"e"',
        "if-modified-since": "Mon, 01 Jan 2024 12:00:00 GMT",
        "x-kept": "1",
      },
    }, recording);
    // The origin was asked for the whole object; the client's conditional was answered here.
    assert.equal(result.response.status, 304);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].has("if-none-match"), false);
    assert.equal(sent[0].has("if-modified-since"), false);
    assert.equal(sent[0].get("x-kept"), "1");
    await settled(cache);
    const full = await serve(cache, origin, "/c", {}, upstream);
    assert.equal(await text(full), "abc");
  } finally {
    cache.close();
  }
});
