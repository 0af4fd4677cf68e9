/**
 * HTTP/3 on a real sProx over real QUIC sockets: requests and their log lines and metrics,
 * the server's SETTINGS, malformed frames closing the connection with the RFC 9114 / RFC
 * 9204 code (and never the process), malformed requests answered, a failing body, stream
 * and idle limits, and GOAWAY on shutdown.
 */
import assert from "node:assert/strict";
import { concat, encodeFrame, encodeSettings, FrameType } from "../src/edge/h3/frames.ts";
import { encodeFieldSection, type FieldLine } from "../src/edge/h3/qpack.ts";
import { freePort, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { connectH3, getFields, readResponse } from "./_support/h3_client.ts";
import { curl, makeTestPki, startOrigin } from "./_support/origins.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

async function setup(extra = "", idleMs = 60000, upstream = "") {
  const dir = await scratchDir();
  const pki = await makeTestPki(dir, "edge", "edge.test");
  const release = Promise.withResolvers<void>();
  const origin = await startOrigin(async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST") return new Response(await request.arrayBuffer());
    if (path === "/dies") {
      // Past 64 KiB, so the route streams it (a smaller body is read whole first and its
      // failure is a clean 502) and the failure comes mid-response. No declared length: the
      // connection error is the client's only sign that the body was cut.
      let n = 0;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (n++ < 6) c.enqueue(new Uint8Array(32 * 1024).fill(98));
            else c.error(new Error("origin crashed"));
          },
        }),
      );
    }
    if (path === "/slow") {
      await release.promise;
      return new Response("slow done");
    }
    return new Response(`hello ${path}`, { headers: { "x-origin": "yes" } });
  });
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
server: { limits: { idle_timeout_ms: ${idleMs}, max_header_bytes: 4096 } }
routes:
  - id: h3
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls: { enabled: true, certificate_path: "${pki.certPath}", private_key_path: "${pki.keyPath}" }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 20000${upstream} }
${extra}`,
    { dir },
  );
  return {
    port,
    pki,
    sprox,
    release,
    async close() {
      release.resolve();
      await sprox.stop().catch(() => {});
      await origin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function metric(port: number, ca: string, name: string): Promise<string[]> {
  const client = await connectH3(port, ca);
  try {
    const r = await client.request(getFields(port, "/metrics"));
    return new TextDecoder().decode(r.body).split("\n").filter((l) => l.startsWith(name));
  } finally {
    client.close();
  }
}

Deno.test("body_pipe: native pipes HTTP/1.1 and HTTP/2 bodies, HTTP/3 keeps the guarded stage", async () => {
  const s = await setup("", 60000, ", body_pipe: native");
  try {
    const client = await connectH3(s.port, s.pki.ca);
    const got = await client.request(getFields(s.port, "/over-h3"));
    client.close();
    assert.equal(got.status, 200);
    assert.equal(new TextDecoder().decode(got.body), "hello /over-h3");
    const h3 = await s.sprox.waitForLog((l) => l.msg === "request" && l.path === "/over-h3");
    assert.equal(h3.protocol, "h3");
    assert.equal(h3.outcome, "ok");
    assert.equal(h3.bytes, 14);
    for (const [version, path] of [["--http1.1", "/over-h1"], ["--http2", "/over-h2"]]) {
      const out = await curl(["-k", version, `https://127.0.0.1:${s.port}${path}`]);
      assert.equal(out.stdout, `hello ${path}`);
      const line = await s.sprox.waitForLog((l) => l.msg === "request" && l.path === path);
      assert.equal(line.outcome, "piped", path);
      assert.equal(line.bytes, 14, path);
    }
  } finally {
    await s.close();
  }
});

Deno.test("HTTP/3 requests reach the app: GET, HEAD, POST body, log lines and metrics", async () => {
  const s = await setup();
  try {
    const client = await connectH3(s.port, s.pki.ca);
    const get = await client.request(getFields(s.port, "/a/b?c=d"));
    assert.equal(get.status, 200);
    assert.equal(new TextDecoder().decode(get.body), "hello /a/b");
    assert.equal(get.headers.get("x-origin"), "yes");
    assert.equal(get.headers.get("content-length"), "10");
    assert.equal(get.headers.get("alt-svc"), null); // not on HTTP/3 itself
    const head = await client.request(getFields(s.port, "/h", "HEAD"));
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const upload = crypto.getRandomValues(new Uint8Array(50_000));
    const post = await client.request(
      [...getFields(s.port, "/upload", "POST"), ["content-length", "50000"]],
      { body: upload },
    );
    assert.equal(post.status, 200);
    assert.deepEqual(post.body, upload);
    // The server's SETTINGS (RFC 9114 §7.2.4.1, RFC 9204 §5).
    assert.deepEqual(
      await withTimeout(client.settings, 5000, "SETTINGS"),
      new Map([[0x01, 4096], [0x07, 0], [0x06, 4096]]),
    );
    client.close();
    const line = await s.sprox.waitForLog((l) => l.msg === "request" && l.path === "/a/b?c=d");
    assert.equal(line.protocol, "h3");
    assert.equal(line.status, 200);
    assert.equal(line.bytes, 10);
    assert.equal(line.outcome, "ok");
    const viaH2 = await curl([
      "-k",
      "--http2",
      "-D",
      "-",
      "-o",
      "/dev/null",
      `https://127.0.0.1:${s.port}/x`,
    ]);
    assert.match(viaH2.stdout, new RegExp(`alt-svc: h3=":${s.port}"; ma=86400`));
    const h2Line = await s.sprox.waitForLog((l) => l.msg === "request" && l.path === "/x");
    assert.equal(h2Line.protocol, "h2");
    const key = `127.0.0.1:${s.port}`;
    const requests = await metric(s.port, s.pki.ca, "sprox_requests_by_protocol_total");
    assert.ok(
      requests.includes(`sprox_requests_by_protocol_total{listener="${key}",protocol="h3"} 4`),
      requests.join("\n"),
    );
    assert.ok(
      requests.includes(`sprox_requests_by_protocol_total{listener="${key}",protocol="h2"} 1`),
    );
    const handshakes = await metric(s.port, s.pki.ca, "sprox_tls_handshakes_total");
    assert.ok(
      handshakes.includes(
        `sprox_tls_handshakes_total{listener="${key}",transport="quic",result="ok"} 3`,
      ),
      handshakes.join("\n"),
    );
    assert.ok(
      handshakes.includes(
        `sprox_tls_handshakes_total{listener="${key}",transport="tcp",result="ok"} 1`,
      ),
    );
  } finally {
    await s.close();
  }
});

Deno.test("malformed frames close the connection with their code; the process stays up", async () => {
  const s = await setup();
  const HEADERS = encodeFrame(FrameType.HEADERS, encodeFieldSection(getFields(s.port, "/")));
  const cases: [string, number, (c: Awaited<ReturnType<typeof connectH3>>) => Promise<unknown>][] =
    [
      ["DATA before HEADERS", 0x105, (c) => c.raw(hex("00 02 6869"))],
      ["a stream cut mid-frame", 0x106, (c) => c.raw(hex("01 10 0000"))],
      ["SETTINGS on a request stream", 0x105, (c) => c.raw(encodeSettings([]))],
      [
        "HTTP/2 PRIORITY (0x02) on a request stream",
        0x105,
        (c) => c.raw(concat([hex("02 00"), HEADERS])),
      ],
      [
        "HEADERS after trailers",
        0x105,
        (c) => c.raw(concat([HEADERS, hex("00 01 61"), hex("01 02 0000"), hex("01 02 0000")])),
      ],
      ["a static index past the table", 0x200, (c) => c.raw(hex("01 04 0000 ff24"))],
      ["a reference to an empty dynamic table", 0x200, (c) => c.raw(hex("01 03 0200 80"))],
      [
        "an insert into the table before any capacity",
        0x201,
        (c) => c.uni(hex("02 c00f 7777 772e 6578 616d 706c 652e 636f 6d")),
      ],
      ["an acknowledgment of a section without references", 0x202, (c) => c.uni(hex("03 84"))],
      ["a push stream from the client", 0x103, (c) => c.uni(hex("01 00"))],
    ];
  try {
    for (const [what, code, send] of cases) {
      const client = await connectH3(s.port, s.pki.ca);
      await send(client);
      const closed = await withTimeout(client.closed, 5000, `${what}: the connection to close`);
      assert.equal(closed.code, code, `${what}: ${closed.reason}`);
    }
    const noSettings = await connectH3(s.port, s.pki.ca, { control: false });
    await noSettings.uni(concat([hex("00"), encodeFrame(FrameType.GOAWAY, hex("00"))]));
    assert.equal((await withTimeout(noSettings.closed, 5000, "close")).code, 0x10a);
    const twoControls = await connectH3(s.port, s.pki.ca);
    await twoControls.uni(concat([hex("00"), encodeSettings([])]));
    assert.equal((await withTimeout(twoControls.closed, 5000, "close")).code, 0x103);
    const badSetting = await connectH3(s.port, s.pki.ca, { control: false });
    await badSetting.uni(concat([hex("00"), encodeFrame(FrameType.SETTINGS, hex("02 00"))]));
    assert.equal((await withTimeout(badSetting.closed, 5000, "close")).code, 0x109);
    // Still serving, and counting.
    const client = await connectH3(s.port, s.pki.ca);
    assert.equal((await client.request(getFields(s.port, "/after"))).status, 200);
    client.close();
    const errors = await metric(s.port, s.pki.ca, "sprox_h3_errors_total");
    const key = `127.0.0.1:${s.port}`;
    assert.ok(
      errors.includes(
        `sprox_h3_errors_total{listener="${key}",code="H3_FRAME_UNEXPECTED",scope="connection"} 4`,
      ),
      errors.join("\n"),
    );
    assert.ok(
      errors.includes(
        `sprox_h3_errors_total{listener="${key}",code="QPACK_DECOMPRESSION_FAILED",scope="connection"} 2`,
      ),
    );
  } finally {
    await s.close();
  }
});

Deno.test("malformed requests are answered 400, 431 and 501 without reaching the app", async () => {
  const s = await setup();
  try {
    const client = await connectH3(s.port, s.pki.ca);
    const ask = async (fields: FieldLine[]) => (await client.request(fields)).status;
    assert.equal(await ask([...getFields(s.port, "/"), ["X-Upper", "1"]]), 400);
    assert.equal(await ask(getFields(s.port, "/").filter(([n]) => n !== ":path")), 400);
    assert.equal(await ask([...getFields(s.port, "/"), ["connection", "close"]]), 400);
    assert.equal(await ask([["x-first", "1"], ...getFields(s.port, "/")]), 400);
    assert.equal(await ask(getFields(s.port, "/", "CONNECT")), 501);
    assert.equal(await ask([...getFields(s.port, "/"), ["x-big", "a".repeat(5000)]]), 431);
    const short = await client.request(
      [...getFields(s.port, "/upload", "POST"), ["content-length", "10"]],
      { body: new Uint8Array(4) },
    );
    assert.notEqual(short.status, 200);
    // The connection survived all of it.
    assert.equal(await ask(getFields(s.port, "/fine")), 200);
    client.close();
    assert.equal(s.sprox.logs.filter((l) => l.msg === "request" && l.path === "/").length, 0);
  } finally {
    await s.close();
  }
});

Deno.test("a body failing part-way closes the connection with H3_INTERNAL_ERROR", async () => {
  const s = await setup();
  try {
    const client = await connectH3(s.port, s.pki.ca);
    const stream = await client.raw(
      encodeFrame(FrameType.HEADERS, encodeFieldSection(getFields(s.port, "/dies"))),
    );
    const read = await readResponse(stream.readable).then(() => "complete", () => "cut");
    assert.equal(read, "cut", "a cut-off body must not end like a complete one");
    // H3_INTERNAL_ERROR, with its reason (a close sent in the same turn as the last writes
    // was lost: the client learned nothing until its idle timeout, 30 s later).
    const closed = await withTimeout(client.closed, 20_000, "the connection to close");
    assert.deepEqual(closed, { code: 0x102, reason: "response body failed" });
    const line = await s.sprox.waitForLog((l) => l.msg === "request" && l.path === "/dies");
    assert.notEqual(line.outcome, "ok");
  } finally {
    await s.close();
  }
});

Deno.test("limits: 100 concurrent streams per connection", async () => {
  // Default timeouts: opening 100 streams on a loaded machine must not race an idle close.
  const s = await setup();
  try {
    const client = await connectH3(s.port, s.pki.ca);
    const open: Deno.QuicBidirectionalStream[] = [];
    for (let i = 0; i < 100; i++) open.push(await client.conn.createBidirectionalStream());
    await assert.rejects(() => client.conn.createBidirectionalStream(), RangeError);
    for (const stream of open) await stream.writable.close().catch(() => {});
    client.close();
  } finally {
    await s.close();
  }
});

Deno.test("limits: idle connections close with GOAWAY after the idle timeout", async () => {
  const s = await setup("", 1000);
  try {
    const idle = await connectH3(s.port, s.pki.ca);
    assert.equal((await idle.request(getFields(s.port, "/once"))).status, 200);
    const started = performance.now();
    const closed = await withTimeout(idle.closed, 20_000, "the idle connection to close");
    const waited = performance.now() - started;
    // Idle for 1 s (swept every 250 ms), then GOAWAY and a 2 s grace before the close.
    assert.ok(waited >= 2800, `closed after ${waited} ms: before the idle timeout and grace`);
    assert.equal(closed.code, 0x100, closed.reason);
    assert.deepEqual(idle.goaways, [4]);
  } finally {
    await s.close();
  }
});

Deno.test("shutdown sends GOAWAY; the request in flight finishes, then the connection closes", async () => {
  const s = await setup();
  try {
    const client = await connectH3(s.port, s.pki.ca);
    await withTimeout(client.settings, 5000, "SETTINGS");
    const slow = client.request(getFields(s.port, "/slow"));
    await s.sprox.waitForLog(() => true, 100).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    s.sprox.kill("SIGTERM");
    const deadlineAt = Date.now() + 5000;
    while (client.goaways.length === 0 && Date.now() < deadlineAt) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // GOAWAY names the first stream not processed: the slow request was stream 0.
    assert.deepEqual(client.goaways, [4]);
    s.release.resolve();
    const response = await withTimeout(slow, 10_000, "the slow response");
    assert.equal(response.status, 200);
    assert.equal(new TextDecoder().decode(response.body), "slow done");
    const closed = await withTimeout(client.closed, 10_000, "the connection to close");
    assert.equal(closed.code, 0x100);
    assert.equal((await withTimeout(s.sprox.status, 20_000, "exit")).code, 0);
  } finally {
    await s.close();
  }
});
