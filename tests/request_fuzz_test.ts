/**
 * No request can crash sProx, at any log level: one sprox per level, driven over raw TCP with
 * the requests that used to kill it (an upgrade to `/health`, to `/proxy/stream`, to an
 * unknown host, a CONNECT with no route) and a small deterministic fuzzer (odd methods,
 * header shapes, bodies). After every case a fresh connection must get `/health` → 200.
 */
import assert from "node:assert/strict";
import { freePort, type SproxProcess, startSprox, withTimeout } from "./_support/mod.ts";
import { startOrigin } from "./_support/direct.ts";
import { latin1Bytes, rawGet, rawRequest, type RawResponse } from "./_support/raw_http.ts";

const LEVELS = ["debug", "info", "warn", "error"] as const;
const FUZZ_CASES = 40;
const SEED = 0x5eed1234;

/** mulberry32: a small seeded generator, so every run sends the same cases. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One request to send, and what must come back (when it is specified). */
interface Case {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The exact status expected; undefined for fuzz cases (any answer, or none). */
  readonly status?: number;
  /** The exact body expected, when specified. */
  readonly body?: string;
  /** Close right after writing (a client that goes away mid-request). */
  readonly hangUp?: boolean;
}

function request(lines: string[], body = ""): Uint8Array {
  return latin1Bytes(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

const WEBSOCKET = [
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
];

function namedCases(originPort: number): Case[] {
  const stream = `/proxy/stream?d=${encodeURIComponent(`http://media.test:${originPort}/x`)}`;
  const upgrade = (reason: string) =>
    JSON.stringify({ error: "upgrade_not_supported", message: reason, request_id: "fz" });
  const refusal = "protocol upgrades are not supported";
  return [
    {
      name: "WebSocket upgrade to /health",
      bytes: request(["GET /health HTTP/1.1", "Host: fuzz.test", "X-Request-Id: fz", ...WEBSOCKET]),
      status: 501,
      body: upgrade(refusal),
    },
    {
      name: "WebSocket upgrade to /proxy/stream",
      bytes: request([`GET ${stream} HTTP/1.1`, "Host: fuzz.test", ...WEBSOCKET]),
      status: 501,
    },
    {
      name: "WebSocket upgrade to an unknown host",
      bytes: request(["GET /x HTTP/1.1", "Host: nowhere.test", ...WEBSOCKET]),
      status: 501,
    },
    {
      name: "CONNECT with no matching route",
      bytes: request(["CONNECT nowhere.test:443 HTTP/1.1", "Host: nowhere.test:443"]),
      status: 405,
    },
    {
      name: "OPTIONS *",
      bytes: request(["OPTIONS * HTTP/1.1", "Host: fuzz.test"]),
      status: 200,
      body: "",
    },
    { name: "TRACE", bytes: request(["TRACE / HTTP/1.1", "Host: fuzz.test"]), status: 405 },
    {
      name: "h2c upgrade to /health is ignored",
      bytes: request([
        "GET /health HTTP/1.1",
        "Host: fuzz.test",
        "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABkAAQAAP__",
      ]),
      status: 200,
      body: '{"status":"ok"}',
    },
    {
      name: "Expect: 100-continue with the body sent at once",
      bytes: request([
        "POST /upload HTTP/1.1",
        "Host: fuzz.test",
        "Expect: 100-continue",
        "Content-Length: 5",
      ], "hello"),
      status: 200,
      body: "origin",
    },
    {
      name: "a header past max_header_bytes",
      bytes: request(["GET /health HTTP/1.1", "Host: fuzz.test", `X-Huge: ${"h".repeat(20000)}`]),
      status: 431,
    },
    {
      name: "no Host field",
      bytes: request(["GET /health HTTP/1.1", "Connection: close"]),
      status: 200,
      body: '{"status":"ok"}',
    },
    {
      name: "HTTP/1.0 without Host",
      bytes: request(["GET /health HTTP/1.0"]),
      status: 200,
      body: '{"status":"ok"}',
    },
    {
      name: "a 1,000-character method",
      bytes: request([`${"Z".repeat(1000)} / HTTP/1.1`, "Host: fuzz.test"]),
      status: 501,
    },
    // An empty Upgrade list is no upgrade (RFC 9110 §7.8: `#protocol`): served normally. The
    // runtime still treats the request as upgradable and closes it once answered, so reading
    // its headers for the log line afterwards would throw (the crash at debug level).
    {
      name: "an empty Upgrade with Connection: upgrade to /health",
      bytes: request([
        "GET /health HTTP/1.1",
        "Host: fuzz.test",
        "X-Request-Id: fz-empty",
        "Upgrade: ",
        "Connection: upgrade",
      ]),
      status: 200,
      body: '{"status":"ok"}',
    },
    {
      name: "an empty Upgrade with Connection: upgrade to a route",
      bytes: request(["GET /r HTTP/1.1", "Host: fuzz.test", "Upgrade: ,", "Connection: upgrade"]),
      status: 200,
      body: "origin",
    },
    {
      name: "a WebSocket upgrade that goes away at once",
      bytes: request(["GET /health HTTP/1.1", "Host: fuzz.test", ...WEBSOCKET]),
      hangUp: true,
    },
  ];
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function randomText(random: () => number, length: number, alphabet: string): string {
  let text = "";
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return text;
}

/** Every byte value but CR and LF (those end lines: they make other cases). */
const ODD_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i))
  .filter((c) => c !== "\r" && c !== "\n").join("");
const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function fuzzCases(originPort: number, count: number): Case[] {
  const random = generator(SEED);
  const methods = () =>
    pick(random, [
      "GET",
      "HEAD",
      "POST",
      "PUT",
      "DELETE",
      "OPTIONS",
      "PATCH",
      "TRACE",
      "CONNECT",
      "get",
      "X".repeat(1 + Math.floor(random() * 2000)),
      randomText(random, 1 + Math.floor(random() * 40), TOKEN_CHARS),
      randomText(random, 1 + Math.floor(random() * 8), ODD_BYTES),
    ]);
  const targets = () =>
    pick(random, [
      "/",
      "/health",
      "/metrics",
      "/keys",
      "/keys/clearkey?kid=00",
      "/speedtest",
      "/proxy/stream",
      `/proxy/stream?d=${encodeURIComponent(`http://media.test:${originPort}/x`)}`,
      "/proxy/hls/manifest.m3u8?d=x",
      "*",
      "http://fuzz.test/absolute",
      "//double//slash",
      "/%zz%00%ff",
      `/${randomText(random, 1 + Math.floor(random() * 30), ODD_BYTES.slice(33))}`,
      `/long/${"a".repeat(9000)}`,
    ]);
  const versions = () =>
    pick(random, ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTX/1.1", ""]);
  const hosts = () =>
    pick(random, [
      ["Host: fuzz.test"],
      ["Host: fuzz.test"],
      [],
      ["Host: fuzz.test", "Host: other.test"],
      ["Host: nowhere.test"],
      ["Host:"],
      [`Host: ${randomText(random, 10, ODD_BYTES.slice(32))}`],
    ]);
  const extras = () =>
    pick(random, [
      [],
      [],
      WEBSOCKET,
      ["Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAAQAAP__"],
      ["Upgrade: foo/1, h2c"],
      ["Expect: 100-continue"],
      ["X-Fold: a", " folded continuation"],
      ["NoColonHere"],
      [": empty-name"],
      ["X-Space-Before : v"],
      [`X-Bin: ${randomText(random, 16, ODD_BYTES.slice(1))}`],
      [`X-Huge: ${"h".repeat(70000)}`],
      ["X-Request-Id: ../../etc/passwd"],
      ["Range: bytes=abc-"],
      [`Authorization: Bearer ${"t".repeat(100)}`, "Cookie: a=b"],
      ...Array.from({ length: 3 }, () => [`X-Many-${Math.floor(random() * 1e6)}: v`]),
    ]);
  const bodies = (): { lines: string[]; body: string; hangUp?: boolean } =>
    pick(random, [
      { lines: [], body: "" },
      { lines: [], body: "" },
      { lines: ["Content-Length: 5"], body: "hello" },
      { lines: ["Transfer-Encoding: chunked"], body: "5\r\nhello\r\n0\r\n\r\n" },
      { lines: ["Transfer-Encoding: chunked"], body: "zz\r\nhello\r\n0\r\n\r\n" },
      { lines: ["Transfer-Encoding: chunked"], body: "5\r\nhelloXX\r\n0\r\n\r\n" },
      { lines: ["Transfer-Encoding: gzip, chunked"], body: "0\r\n\r\n" },
      { lines: ["Content-Length: abc"], body: "" },
      { lines: ["Content-Length: 5", "Content-Length: 6"], body: "hello" },
      { lines: ["Content-Length: 5", "Transfer-Encoding: chunked"], body: "0\r\n\r\n" },
      { lines: ["Content-Length: 100"], body: "short", hangUp: true },
    ]);
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const method = methods();
    const target = targets();
    const version = versions();
    const { lines, body, hangUp } = bodies();
    const head = [
      `${method} ${target} ${version}`.trimEnd(),
      ...hosts(),
      ...extras(),
      ...lines,
      "Connection: close",
    ];
    cases.push({
      name: `fuzz #${i}: ${JSON.stringify(head[0].slice(0, 60))}`,
      bytes: request(head, body),
      hangUp: hangUp || random() < 0.15,
    });
  }
  return cases;
}

async function assertHealthy(sprox: SproxProcess, port: number, after: string): Promise<void> {
  let health: RawResponse;
  try {
    health = await rawRequest(port, rawGet("/health"), { timeoutMs: 5000 });
  } catch (error) {
    throw new Error(`after ${after}: /health failed (${error}); stderr:\n${sprox.stderr()}`);
  }
  assert.equal(health.status, 200, `after ${after}: /health status; stderr:\n${sprox.stderr()}`);
  assert.equal(health.body, '{"status":"ok"}', `after ${after}`);
}

function config(port: number, originPort: number, level: string): string {
  return `routes:
  - id: fuzz
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["fuzz.test"]
    upstream: { origin: "http://127.0.0.1:${originPort}", request_timeout_ms: 2000 }
direct_stream:
  allow_private_networks: true
  allowlist: [{ domain: "media.test", schemes: [http] }]
  hosts: { "media.test": ["127.0.0.1"] }
telemetry: { log_level: ${level} }
rate_limit: { enabled: false }
server:
  limits: { max_header_bytes: 8192 }
`;
}

/**
 * Starts sprox at `level`. Start-up is announced at info, so warn and error start at info
 * and switch by a reload (confirmed by the reload counter, their logs being quiet); debug
 * comes from the environment, info from the file.
 */
async function startAt(level: string, port: number, originPort: number): Promise<SproxProcess> {
  if (level === "debug") {
    return await startSprox(config(port, originPort, "info"), { env: { SPROX_LOG_LEVEL: level } });
  }
  const sprox = await startSprox(config(port, originPort, "info"));
  if (level === "info") return sprox;
  await Deno.writeTextFile(sprox.configPath, config(port, originPort, level));
  sprox.kill("SIGHUP");
  await withTimeout(
    (async () => {
      for (;;) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        if (/^sprox_config_reloads_total\{outcome="success"\} 1$/m.test(text)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    10_000,
    `the reload to log level ${level}`,
  );
  // Logged (at info, before the new level applies) in a batch that may reach us after the
  // counter: the quiet-level checks start after it.
  await sprox.waitForLog((l) => l.msg === "reload requested (SIGHUP)", 10_000);
  return sprox;
}

for (const level of LEVELS) {
  Deno.test(`no request crashes sprox at log level ${level}`, async () => {
    const origin = startOrigin(async (req) => {
      await req.arrayBuffer().catch(() => {});
      return new Response("origin");
    });
    const port = freePort();
    const sprox = await startAt(level, port, origin.port);
    const linesBefore = sprox.logs.length;
    let answered = 0;
    try {
      for (const c of [...namedCases(origin.port), ...fuzzCases(origin.port, FUZZ_CASES)]) {
        let response: RawResponse | undefined;
        try {
          response = await rawRequest(port, c.bytes, { hangUp: c.hangUp, timeoutMs: 2000 });
        } catch (error) {
          // A fuzz case may leave the server waiting for more (the client then goes away);
          // a specified case must answer.
          if (c.status !== undefined) throw new Error(`${c.name}: ${error}`);
        }
        if (c.status !== undefined) {
          assert.equal(response?.status, c.status, c.name);
          if (c.body !== undefined) assert.equal(response?.body, c.body, c.name);
        }
        if (response && response.status !== 0) answered++;
        await assertHealthy(sprox, port, c.name);
      }
      assert.ok(answered > FUZZ_CASES / 2, `most cases get an answer: ${answered}`);
      if (level === "debug") {
        // The upgrade's line carries the headers captured when it arrived.
        const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "fz");
        assert.equal(line.status, 501);
        assert.equal(line.outcome, "upgrade_not_supported");
        const headers = line.request_headers as Record<string, string>;
        assert.equal(headers.upgrade, "websocket");
        assert.equal(headers.host, "fuzz.test");
        const empty = await sprox.waitForLog((l) =>
          l.msg === "request" && l.request_id === "fz-empty"
        );
        assert.equal(empty.status, 200);
        assert.equal((empty.request_headers as Record<string, string>).connection, "upgrade");
      } else if (level === "info") {
        const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "fz");
        assert.equal(line.request_headers, undefined);
      } else {
        // Quiet levels: nothing below the threshold was written while the cases ran.
        const quieter = level === "warn" ? ["debug", "info"] : ["debug", "info", "warn"];
        const written = sprox.logs.slice(linesBefore);
        assert.deepEqual(written.filter((l) => quieter.includes(l.level)), []);
      }
      assert.ok(!/uncaught|unhandled/i.test(sprox.stderr()), sprox.stderr());
      assert.ok(
        !sprox.logs.some((l) => l.msg === "request log line failed"),
        "every request line was written",
      );
    } finally {
      const code = await sprox.stop();
      await origin.close();
      assert.equal(code, 0, `sprox exits cleanly; stderr:\n${sprox.stderr()}`);
    }
  });
}
