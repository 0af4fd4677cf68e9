/**
 * `upstream.body_pipe: native` over real sockets: a body passed through untouched (with an
 * announced length) reaches the client byte-exact and is logged `piped` with its announced
 * length; every body sProx reads itself (playlists, sniffed bodies, cache fills) and every body
 * it cannot announce (chunked, HEAD) keeps the guarded stage and its exact outcomes; an
 * origin that dies mid-body still leaves the client with a cut-off body; a client that leaves
 * is 499 with an unknown byte count and the origin's body is cancelled.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type LogLine,
  runCli,
  scratchDir,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startOrigin } from "./_support/direct.ts";
import { latin1Bytes, shortBodyOrigin } from "./_support/raw_http.ts";

const MIB = 1024 * 1024;
const CHUNK = 16 * 1024;

/** Deterministic bytes, different at every offset of a period of 251. */
function pattern(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 3) % 251;
  return bytes;
}

/** A media playlist of `segments` relative segment URIs (about 20 bytes per segment). */
function bigPlaylist(segments: number): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4"];
  for (let i = 0; i < segments; i++) lines.push("#EXTINF:4.0,", `seg-${i}.ts`);
  lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

const SEGMENT = pattern(MIB);
const PLAYLIST = bigPlaylist(5000);

/** What the origin saw of its streamed `/v/slow.ts` bodies. */
const slowBodyCancelled = Promise.withResolvers<void>();

function mediaOrigin() {
  return startOrigin((request) => {
    const path = new URL(request.url).pathname;
    const fixed = (body: Uint8Array<ArrayBuffer> | string, type: string) =>
      new Response(body, { headers: { "content-type": type } });
    switch (path) {
      case "/v/seg.ts":
        return fixed(SEGMENT, "video/mp2t");
      case "/v/blob.ts":
        return fixed(SEGMENT, "application/octet-stream");
      case "/v/small.ts":
        return fixed(SEGMENT.slice(0, 32 * 1024), "video/mp2t");
      case "/v/list":
        return fixed(PLAYLIST, "application/vnd.apple.mpegurl");
      case "/v/sniff":
        return fixed(PLAYLIST, "application/octet-stream");
      case "/v/chunked.ts": {
        // No Content-Length: the runtime sends it chunked.
        let sent = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent >= SEGMENT.length) return controller.close();
              controller.enqueue(SEGMENT.slice(sent, sent + 64 * 1024));
              sent += 64 * 1024;
            },
          }),
          { headers: { "content-type": "video/mp2t" } },
        );
      }
      case "/v/slow.ts": {
        // 64 chunks, one every 5 ms, announced; a cancelled body says so.
        let sent = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              await new Promise((r) => setTimeout(r, 5));
              if (sent >= 64) return controller.close();
              sent++;
              controller.enqueue(new Uint8Array(CHUNK));
            },
            cancel() {
              slowBodyCancelled.resolve();
            },
          }, { highWaterMark: 0 }),
          { headers: { "content-type": "video/mp2t", "content-length": String(64 * CHUNK) } },
        );
      }
      default:
        return new Response("not here", { status: 404 });
    }
  });
}

/** Announces 300,000 bytes (a playlist at `/v/list`), sends the first `sent` of `PLAYLIST`. */
function brokenOrigin(sent: number, then: "close" | "stall") {
  return shortBodyOrigin((head) => ({
    type: head.startsWith("GET /v/list") ? "application/vnd.apple.mpegurl" : "video/mp2t",
    declared: 300_000,
    body: new TextEncoder().encode(PLAYLIST.slice(0, sent)),
  }), then);
}

function route(id: string, port: number, origin: number, extra = "", pipe = "native"): string {
  return `  - id: ${id}
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream:
      origin: "http://127.0.0.1:${origin}"
      read_timeout_ms: 400
      body_pipe: ${pipe}
${extra}`;
}

const HLS =
  `    hls: { enabled: true, rewrite_playlist_urls: true, base_url: "https://cdn.test/hls/" }\n`;

async function get(
  url: string,
  id: string,
  method = "GET",
): Promise<{ status: number; body: Uint8Array; headers: Headers }> {
  const response = await fetch(url, {
    method,
    headers: { "x-request-id": id },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.bytes(), headers: response.headers };
}

function lineOf(
  sprox: { waitForLog(p: (l: LogLine) => boolean, ms?: number): Promise<LogLine> },
  id: string,
) {
  return sprox.waitForLog((l) => l.msg === "request" && l.request_id === id, 5000);
}

Deno.test("native pipe: bodies passed through untouched are piped, every other body keeps the guarded stage", async (t) => {
  const origin = mediaOrigin();
  const [plain, hls, guarded, cached] = [freePort(), freePort(), freePort(), freePort()];
  const sprox = await startSprox(`routes:
${route("plain", plain, origin.port)}
${route("hls", hls, origin.port, HLS)}
${route("guarded", guarded, origin.port, "", "guarded")}
${route("cached", cached, origin.port, "    cache: { enabled: true }\n")}
rate_limit: { enabled: false }
`);
  const expect = async (
    id: string,
    outcome: string,
    bytes: number | null,
  ) => {
    const line = await lineOf(sprox, id);
    assert.equal(line.outcome, outcome, id);
    assert.equal(line.bytes, bytes, id);
    assert.equal(line.status, 200, id);
    assert.equal(line.level, "info", id);
    return line;
  };
  try {
    await t.step(
      "a segment on a plain route: byte-exact, logged piped with its length",
      async () => {
        const got = await get(`http://127.0.0.1:${plain}/v/seg.ts`, "plain-seg");
        assert.equal(got.status, 200);
        assert.equal(got.headers.get("content-length"), String(MIB));
        assert.deepEqual(got.body, SEGMENT);
        await expect("plain-seg", "piped", MIB);
      },
    );

    await t.step("a small body on a native route is piped too", async () => {
      const small = await get(`http://127.0.0.1:${plain}/v/small.ts`, "plain-small");
      assert.deepEqual(small.body, SEGMENT.slice(0, 32 * 1024));
      await expect("plain-small", "piped", 32 * 1024);
    });

    await t.step(
      "segments on an HLS route: by type, and an ambiguous type at a segment URL",
      async () => {
        const seg = await get(`http://127.0.0.1:${hls}/v/seg.ts`, "hls-seg");
        assert.deepEqual(seg.body, SEGMENT);
        await expect("hls-seg", "piped", MIB);
        const blob = await get(`http://127.0.0.1:${hls}/v/blob.ts`, "hls-blob");
        assert.deepEqual(blob.body, SEGMENT);
        await expect("hls-blob", "piped", MIB);
      },
    );

    await t.step("playlists an HLS route reads are rewritten, never piped", async () => {
      for (const [id, path] of [["hls-list", "/v/list"], ["hls-sniff", "/v/sniff"]]) {
        const got = await get(`http://127.0.0.1:${hls}${path}`, id);
        assert.equal(got.status, 200, id);
        const text = new TextDecoder().decode(got.body);
        const expected = PLAYLIST.replaceAll(/^seg-/gm, "https://cdn.test/hls/v/seg-");
        assert.equal(text, expected, id);
        await expect(id, "ok", expected.length);
      }
    });

    await t.step(
      "the guarded default, small, chunked, HEAD and POST bodies keep exact outcomes",
      async () => {
        const seg = await get(`http://127.0.0.1:${guarded}/v/seg.ts`, "guarded-seg");
        assert.deepEqual(seg.body, SEGMENT);
        await expect("guarded-seg", "ok", MIB);
        const small = await get(`http://127.0.0.1:${guarded}/v/small.ts`, "guarded-small");
        assert.deepEqual(small.body, SEGMENT.slice(0, 32 * 1024));
        await expect("guarded-small", "ok", 32 * 1024);
        const chunked = await get(`http://127.0.0.1:${plain}/v/chunked.ts`, "plain-chunked");
        assert.equal(chunked.headers.get("content-length"), null);
        assert.deepEqual(chunked.body, SEGMENT);
        await expect("plain-chunked", "ok", MIB);
        const head = await get(`http://127.0.0.1:${plain}/v/seg.ts`, "plain-head", "HEAD");
        assert.equal(head.headers.get("content-length"), String(MIB));
        assert.equal(head.body.byteLength, 0);
        await expect("plain-head", "ok", 0);
        // Only a GET is piped: the answer to a POST keeps the guarded stage.
        const post = await get(`http://127.0.0.1:${plain}/v/seg.ts`, "plain-post", "POST");
        assert.equal(post.status, 200);
        assert.deepEqual(post.body, SEGMENT);
        await expect("plain-post", "ok", MIB);
      },
    );

    await t.step("a cache route fills through the guarded stage", async () => {
      const first = await get(`http://127.0.0.1:${cached}/v/seg.ts`, "cached-1");
      assert.deepEqual(first.body, SEGMENT);
      const line = await expect("cached-1", "ok", MIB);
      assert.equal(line.cache, "miss");
      const second = await get(`http://127.0.0.1:${cached}/v/seg.ts`, "cached-2");
      assert.deepEqual(second.body, SEGMENT);
      assert.equal((await expect("cached-2", "ok", MIB)).cache, "hit");
    });

    await t.step("piped bodies count their bytes and are no request error", async () => {
      const text = await (await fetch(`http://127.0.0.1:${plain}/metrics`, {
        signal: AbortSignal.timeout(10_000),
      })).text();
      assert.doesNotMatch(text, /^sprox_request_errors_total\{/m);
      assert.match(
        text,
        /^sprox_http_requests_total\{route="plain",method="GET",status_class="2xx"\} 3$/m,
      );
    });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("native pipe: a broken origin, a stalled playlist and a client that leaves", async (t) => {
  const dying = brokenOrigin(100_000, "close");
  const stalled = brokenOrigin(70_000, "stall");
  const origin = mediaOrigin();
  const [cut, stall, slow] = [freePort(), freePort(), freePort()];
  const sprox = await startSprox(`routes:
${route("cut", cut, dying.port)}
${route("stall", stall, stalled.port, HLS)}
${route("slow", slow, origin.port)}
rate_limit: { enabled: false }
`);
  try {
    await t.step("an origin that dies mid-body: the client sees the cut", async () => {
      const response = await fetch(`http://127.0.0.1:${cut}/v/seg.ts`, {
        headers: { "x-request-id": "cut" },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-length"), "300000");
      let received = 0;
      await assert.rejects(async () => {
        for await (const chunk of response.body!) received += chunk.byteLength;
      });
      assert.equal(received, 100_000);
      // sProx does not see how a piped body ends: the line says piped, never ok.
      const line = await lineOf(sprox, "cut");
      assert.equal(line.outcome, "piped");
      assert.equal(line.bytes, 300_000);
    });

    await t.step("a playlist that stalls is still cut by the read timeout", async () => {
      const got = await withTimeout(
        get(`http://127.0.0.1:${stall}/v/list`, "stall-list"),
        4000,
        "the stalled playlist to be answered within the read timeout",
      );
      assert.equal(got.status, 504);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(got.body)), {
        error: "upstream_read_timeout",
        message: "upstream stalled",
        request_id: "stall-list",
      });
      const line = await lineOf(sprox, "stall-list");
      assert.equal(line.outcome, "upstream_read_timeout");
    });

    await t.step(
      "a client that leaves mid-body: 499, bytes unknown, the origin cancelled",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: slow });
        try {
          await conn.write(
            latin1Bytes("GET /v/slow.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: left\r\n\r\n"),
          );
          const buffer = new Uint8Array(64 * 1024);
          let received = 0;
          while (received < 4 * CHUNK) {
            const n = await withTimeout(conn.read(buffer), 5000, "the download to start");
            if (n === null) throw new Error(`closed after ${received} bytes`);
            received += n;
          }
        } finally {
          conn.close();
        }
        await withTimeout(slowBodyCancelled.promise, 3000, "the origin to see its body cancelled");
        const line = await lineOf(sprox, "left");
        assert.equal(line.status, 499);
        assert.equal(line.outcome, "client_closed");
        assert.equal(line.bytes, null);
      },
    );
  } finally {
    await sprox.stop();
    dying.close();
    stalled.close();
    await origin.close();
  }
});

Deno.test("native pipe: body_pipe takes guarded or native only", async () => {
  const dir = await scratchDir();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `routes:\n${route("r", 18080, 18081, "", "fast")}`,
  );
  const result = await runCli(["validate", "-c", dir]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout + result.stderr, /routes\[0\]\.upstream\.body_pipe/);
  assert.match(result.stdout + result.stderr, /"guarded" \| "native"|guarded.*native/);
});
