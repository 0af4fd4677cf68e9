/**
 * The cache over real sockets, with a counting loopback origin: coalescing (N clients, one
 * origin request, byte-exact bodies; a slow joiner; an origin failing mid-body), 304 and
 * Range from the cache, live-playlist expiry, a playlist Range that never bypasses
 * rewriting, links that do not depend on forwarding headers, generated playlists'
 * validators, eviction under a byte bound, and direct mode.
 * @module
 */
import assert from "node:assert/strict";
import { curl } from "./_support/origins.ts";
import { directConfig, startOrigin, streamUrl } from "./_support/direct.ts";
import { freePort, startSprox } from "./_support/sprox.ts";
import { deadline, withTimeout } from "./_support/timeout.ts";

const SEGMENT = 1024 * 1024;

function pattern(size: number, seed = 0): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 11) + seed) & 0xff;
  return bytes;
}

/** A body sent in `chunks` pieces, `gapMs` apart (so that joiners arrive mid-fill). */
function paced(bytes: Uint8Array, chunks: number, gapMs: number, failAfter?: number) {
  let sent = 0;
  const step = Math.ceil(bytes.length / chunks);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= bytes.length) return controller.close();
      if (failAfter !== undefined && sent >= failAfter) {
        return controller.error(new Error("origin died"));
      }
      if (sent > 0) await new Promise((r) => setTimeout(r, gapMs));
      controller.enqueue(bytes.slice(sent, sent + step));
      sent += step;
    },
  });
}

function routeConfig(port: number, originPort: number, extra = ""): string {
  return `
rate_limit: { enabled: false }
cache: { enabled: true, max_bytes: 8388608, max_object_bytes: 2097152 }
routes:
  - id: tv
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${originPort}/o", read_timeout_ms: 20000, request_timeout_ms: 20000 }
    hls: { enabled: true, rewrite_playlist_urls: true, base_url: "https://cdn.test/tv/", cross_origin: refuse }
${extra}`;
}

async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await withTimeout(response.arrayBuffer(), 20_000, "a body"));
}

const LIVE = (first: number) =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${first}\n` +
  `#EXTINF:2.0,\nseg${first}.ts\n#EXTINF:2.0,\nseg${first + 1}.ts\n`;

Deno.test("route cache: N clients make one origin request; joiners stream; 304 and Range from memory", async () => {
  const body = pattern(SEGMENT);
  let slowRelease: (() => void) | undefined;
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/o/seg.ts") {
      return new Response(paced(body, 16, 40), {
        headers: {
          "content-type": "video/mp2t",
          "content-length": String(body.length),
          "cache-control": "max-age=60",
          etag: '"seg-v1"',
        },
      });
    }
    if (path === "/o/dies.ts") {
      return new Response(paced(body, 16, 20, SEGMENT / 2), {
        headers: { "content-type": "video/mp2t", "content-length": String(body.length) },
      });
    }
    if (path === "/o/held.ts") {
      return new Promise<Response>((resolve) => {
        slowRelease = () =>
          resolve(new Response(body, { headers: { "content-type": "video/mp2t" } }));
      });
    }
    return new Response("no", { status: 404 });
  });
  const port = freePort();
  const sprox = await startSprox(routeConfig(port, origin.port));
  const base = `http://127.0.0.1:${port}`;
  try {
    // 20 clients at once, then 10 more while the fill is still streaming.
    const first = Array.from(
      { length: 20 },
      () => fetch(`${base}/seg.ts`, { signal: deadline(20_000) }),
    );
    await new Promise((r) => setTimeout(r, 150));
    const late = Array.from(
      { length: 10 },
      () => fetch(`${base}/seg.ts`, { signal: deadline(20_000) }),
    );
    const responses = await withTimeout(Promise.all([...first, ...late]), 20_000, "30 responses");
    const bodies = await Promise.all(responses.map(bytesOf));
    for (const b of bodies) assert.deepEqual(b, body);
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/o/seg.ts")).length, 1);
    const statuses = responses.map((r) => r.headers.get("cache-status"));
    // RFC 9211: one request went forward; the other 29 were collapsed onto it.
    assert.equal(statuses.filter((s) => /fwd=uri-miss; stored/.test(s ?? "")).length, 30);
    assert.equal(statuses.filter((s) => s?.includes("collapsed")).length, 29, statuses.join(" | "));

    // A conditional request and a range are answered from memory.
    const notModified = await fetch(`${base}/seg.ts`, {
      headers: { "if-none-match": '"seg-v1"' },
      signal: deadline(),
    });
    assert.equal(notModified.status, 304);
    assert.equal(await notModified.text(), "");
    const part = await fetch(`${base}/seg.ts`, {
      headers: { range: "bytes=100-199" },
      signal: deadline(),
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 100-199/${SEGMENT}`);
    assert.deepEqual(await bytesOf(part), body.slice(100, 200));
    assert.match(part.headers.get("cache-status")!, /hit/);
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/o/seg.ts")).length, 1);

    // A slow joiner (paused reader) does not hold back a fast one.
    const slow = await fetch(`${base}/seg.ts?v=2`, { signal: deadline(20_000) });
    const slowReader = slow.body!.getReader();
    await slowReader.read();
    const fast = await withTimeout(
      fetch(`${base}/seg.ts?v=2`, { signal: deadline(20_000) }).then(bytesOf),
      10_000,
      "the fast joiner while a slow one is paused",
    );
    assert.deepEqual(fast, body);
    await slowReader.cancel();

    // An origin dying mid-body reaches every joiner as a cut-off body, logged truncated.
    const cut = await Promise.all(
      [0, 1, 2].map(() =>
        curl([
          "--max-time",
          "20",
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{size_download}",
          `${base}/dies.ts`,
        ])
      ),
    );
    for (const r of cut) {
      assert.equal(r.code, 18, `curl should see a partial transfer: ${r.stderr}`);
      assert.ok(Number(r.stdout) < SEGMENT);
    }
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/o/dies.ts")).length, 1);
    const lines = await withTimeout(
      (async () => {
        while (sprox.logs.filter((l) => l.path === "/dies.ts").length < 3) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return sprox.logs.filter((l) => l.path === "/dies.ts");
      })(),
      10_000,
      "three log lines for /dies.ts",
    );
    for (const line of lines) assert.equal(line.outcome, "truncated");

    // An origin that has not answered yet: joiners wait for the one exchange.
    const waiting = Array.from(
      { length: 5 },
      () => fetch(`${base}/held.ts`, { signal: deadline(20_000) }),
    );
    await withTimeout(
      (async () => {
        while (!slowRelease) await new Promise((r) => setTimeout(r, 20));
      })(),
      5000,
      "the held request to reach the origin",
    );
    await new Promise((r) => setTimeout(r, 200));
    slowRelease!();
    for (const r of await withTimeout(Promise.all(waiting), 10_000, "held joiners")) {
      assert.deepEqual(await bytesOf(r), body);
    }
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/o/held.ts")).length, 1);

    const metrics = await (await fetch(`${base}/metrics`, { signal: deadline() })).text();
    const coalesced = Number(metrics.match(/^sprox_cache_coalesced_total (\d+)/m)?.[1] ?? 0);
    assert.ok(coalesced >= 29, `coalesced joins counted: ${coalesced}`);
    const segLines = sprox.logs.filter((l) => l.msg === "request" && l.path === "/seg.ts");
    assert.ok(segLines.every((l) => typeof l.cache === "string"), "cache outcome on log lines");
    assert.ok(segLines.some((l) => l.cache === "coalesced"));
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("route cache: live playlists expire at half their target; Range and Host never bypass rewriting", async () => {
  let sequence = 10;
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/o/live.m3u8") {
      return new Response(LIVE(sequence), {
        headers: {
          "content-type": "application/vnd.apple.mpegurl",
          "last-modified": "Mon, 01 Jan 2001 00:00:00 GMT",
        },
      });
    }
    if (path === "/o/cross.m3u8") {
      return new Response(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttps://other.example/a.ts\n#EXT-X-ENDLIST\n",
        { headers: { "content-type": "application/vnd.apple.mpegurl" } },
      );
    }
    return new Response("no", { status: 404 });
  });
  const port = freePort();
  const sprox = await startSprox(routeConfig(port, origin.port));
  const base = `http://127.0.0.1:${port}`;
  const livePolls = () => origin.requests.filter((r) => r.url.endsWith("/o/live.m3u8")).length;
  try {
    const a = await fetch(`${base}/live.m3u8`, { signal: deadline() });
    const textA = await a.text();
    assert.equal(a.status, 200);
    assert.match(textA, /#EXT-X-MEDIA-SEQUENCE:10/);
    assert.equal(a.headers.get("cache-control"), "max-age=1");
    assert.equal(a.headers.get("last-modified"), null);
    const etag = a.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{16}-[0-9a-f]+"$/);
    // Within its lifetime: from memory, and a conditional request gets 304.
    const b = await fetch(`${base}/live.m3u8`, {
      headers: { "if-none-match": etag },
      signal: deadline(),
    });
    assert.equal(b.status, 304);
    await b.body?.cancel();
    assert.equal(
      livePolls(),
      1,
      JSON.stringify(
        sprox.logs.filter((l) => l.path === "/live.m3u8").map((l) => [l.cache, l.status]),
      ) +
        JSON.stringify(origin.requests.map((r) => [r.url, Object.fromEntries(r.headers)])),
    );
    // After half the target duration the origin is asked again and the new window shows.
    sequence = 11;
    await new Promise((r) => setTimeout(r, 1300));
    const c = await fetch(`${base}/live.m3u8`, { signal: deadline() });
    const textC = await c.text();
    if (!/SEQUENCE:11/.test(textC)) {
      // stale-while-revalidate served the old one and refreshed in the background.
      await new Promise((r) => setTimeout(r, 300));
      assert.match(
        await (await fetch(`${base}/live.m3u8`, { signal: deadline() })).text(),
        /SEQUENCE:11/,
      );
    }
    // One refresh (a background revalidation may add one more at the boundary), not one per
    // request.
    assert.ok(livePolls() >= 2 && livePolls() <= 3, `origin polls: ${livePolls()}`);

    // A Range on a playlist is answered from the rewritten output, never the origin's bytes.
    const ranged = await fetch(`${base}/live.m3u8`, {
      headers: { range: "bytes=0-6" },
      signal: deadline(),
    });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), "#EXTM3U");
    assert.ok(origin.requests.every((r) => !r.headers.has("range")), "no Range reached the origin");
    const refused = await fetch(`${base}/cross.m3u8`, {
      headers: { range: "bytes=0-3" },
      signal: deadline(),
    });
    assert.equal(refused.status, 502);
    assert.equal((await refused.json()).error, "cross_origin_reference");

    // Forwarding headers do not shape the links (nothing to poison), and hosts keep apart.
    const poisoned = await fetch(`${base}/live.m3u8?p=1`, {
      headers: { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
      signal: deadline(),
    });
    const poisonedText = await poisoned.text();
    assert.ok(!poisonedText.includes("evil.example"), poisonedText);
    const clean = await (await fetch(`${base}/live.m3u8?p=1`, { signal: deadline() })).text();
    assert.equal(clean, poisonedText);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("route cache: a byte bound evicts; uncacheable responses are never stored", async () => {
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    const n = Number(path.match(/(\d+)/)?.[1] ?? 0);
    if (path.startsWith("/o/private")) {
      return new Response("mine", { headers: { "cache-control": "private, max-age=60" } });
    }
    if (path.startsWith("/o/nostore")) {
      return new Response("none", { headers: { "cache-control": "no-store" } });
    }
    if (path === "/o/tiny.txt") {
      return new Response("tiny body", {
        headers: { "cache-control": "max-age=60", "content-type": "text/plain" },
      });
    }
    return new Response(pattern(SEGMENT, n), {
      headers: { "content-type": "video/mp2t", "cache-control": "max-age=60" },
    });
  });
  const port = freePort();
  const sprox = await startSprox(
    routeConfig(port, origin.port).replace("max_bytes: 8388608", "max_bytes: 3145728"),
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(
        await bytesOf(await fetch(`${base}/s${i}.ts`, { signal: deadline() })),
        pattern(SEGMENT, i),
      );
    }
    const metrics = await (await fetch(`${base}/metrics`, { signal: deadline() })).text();
    const held = Number(metrics.match(/^sprox_cache_bytes (\d+)/m)?.[1] ?? -1);
    assert.ok(held > 0 && held <= 3145728, `bytes held: ${held}`);
    const evicted = [...metrics.matchAll(/^sprox_cache_evictions_total\{[^}]*\} (\d+)/gm)]
      .reduce((sum, m) => sum + Number(m[1]), 0);
    assert.ok(evicted >= 3, `evictions: ${evicted}`);
    // A small object answered from memory: same bytes, headers and Via as the first answer.
    for (let i = 0; i < 3; i++) {
      const tiny = await fetch(`${base}/tiny.txt`, { signal: deadline() });
      assert.equal(await tiny.text(), "tiny body");
      assert.equal(tiny.headers.get("via"), "1.1 sprox");
      assert.equal(tiny.headers.get("content-length"), "9");
      assert.equal(tiny.headers.get("content-type"), "text/plain");
      if (i > 0) assert.match(tiny.headers.get("cache-status")!, /^sprox; hit/);
    }
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/o/tiny.txt")).length, 1);
    for (const path of ["/private.txt", "/nostore.txt"]) {
      await (await fetch(`${base}${path}`, { signal: deadline() })).text();
      await (await fetch(`${base}${path}`, { signal: deadline() })).text();
      assert.equal(origin.requests.filter((r) => r.url.endsWith(`/o${path}`)).length, 2, path);
    }
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("direct cache: /proxy/stream and the direct playlist coalesce onto one origin request", async () => {
  const body = pattern(SEGMENT, 7);
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/media/seg.ts") {
      return new Response(paced(body, 8, 30), {
        headers: { "content-type": "video/mp2t", "cache-control": "max-age=60" },
      });
    }
    if (path === "/media/live.m3u8") {
      return new Response(LIVE(5), {
        headers: { "content-type": "application/vnd.apple.mpegurl" },
      });
    }
    return new Response("no", { status: 404 });
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(
    port,
    `direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
  cache: { enabled: true }
`,
  ));
  const d = `http://media.test:${origin.port}/media/seg.ts`;
  try {
    const responses = await withTimeout(
      Promise.all(
        Array.from({ length: 12 }, () => fetch(streamUrl(port, d), { signal: deadline(20_000) })),
      ),
      20_000,
      "12 direct responses",
    );
    for (const r of responses) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.deepEqual(await bytesOf(r), body);
    }
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/media/seg.ts")).length, 1);

    const playlist = `http://127.0.0.1:${port}/proxy/hls/manifest.m3u8?d=${
      encodeURIComponent(`http://media.test:${origin.port}/media/live.m3u8`)
    }`;
    const texts = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await fetch(playlist, { signal: deadline() });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("cache-control"), "max-age=1");
        return await r.text();
      }),
    );
    assert.ok(texts.every((t) => t === texts[0] && t.includes("/proxy/stream")));
    assert.equal(origin.requests.filter((r) => r.url.endsWith("/media/live.m3u8")).length, 1);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("route cache warm-up: a watched live playlist's newest segments are fetched ahead", async () => {
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/o/live.m3u8") {
      return new Response(LIVE(20), {
        headers: { "content-type": "application/vnd.apple.mpegurl" },
      });
    }
    const n = Number(path.match(/seg(\d+)\.ts$/)?.[1] ?? -1);
    if (n >= 0) {
      return new Response(pattern(4096, n), {
        headers: { "content-type": "video/mp2t", "cache-control": "max-age=60" },
      });
    }
    return new Response("no", { status: 404 });
  });
  const port = freePort();
  const sprox = await startSprox(
    routeConfig(port, origin.port).replace(
      "max_object_bytes: 2097152 }",
      "max_object_bytes: 2097152, prefetch_segments: 1 }",
    ),
  );
  const base = `http://127.0.0.1:${port}`;
  const segmentFetches = (n: number) =>
    origin.requests.filter((r) => r.url.endsWith(`/o/seg${n}.ts`)).length;
  try {
    await (await fetch(`${base}/live.m3u8`, { signal: deadline() })).text();
    await withTimeout(
      (async () => {
        while (segmentFetches(21) === 0) await new Promise((r) => setTimeout(r, 20));
      })(),
      5000,
      "the newest segment to be fetched ahead",
    );
    assert.equal(segmentFetches(20), 0, "only the newest segment is warmed");
    await new Promise((r) => setTimeout(r, 200));
    const seg = await fetch(`${base}/seg21.ts`, { signal: deadline() });
    assert.deepEqual(await bytesOf(seg), pattern(4096, 21));
    assert.match(seg.headers.get("cache-status")!, /^sprox; hit/);
    assert.equal(segmentFetches(21), 1);
    // The same playlist version again: no second warm-up.
    await (await fetch(`${base}/live.m3u8`, { signal: deadline() })).text();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(segmentFetches(21), 1);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
