/**
 * Truthful outcomes over real sockets: a client that goes away (before the origin answers, or
 * mid-body) is logged 499 `client_closed` and counted as 4xx, and the origin sees its request
 * cancelled, in route mode and in direct mode; an origin that dies mid-body leaves a
 * `truncated` line with the bytes delivered; a download cut at the end of the shutdown grace
 * period is logged `shutdown`.
 */
import assert from "node:assert/strict";
import { freePort, type LogLine, startSprox, withTimeout } from "./_support/mod.ts";
import { startOrigin, streamUrl } from "./_support/direct.ts";
import { latin1Bytes, shortBodyOrigin } from "./_support/raw_http.ts";

const CHUNK = 16 * 1024;
const BIG = 64 * CHUNK;

/** What the delaying origin saw: per `case` query value, its requests and their aborts. */
interface Seen {
  requests: number;
  arrived: PromiseWithResolvers<void>;
  aborted: PromiseWithResolvers<void>;
}

function slowOrigin(): { port: number; seen: (name: string) => Seen; close(): Promise<void> } {
  const cases = new Map<string, Seen>();
  const seen = (name: string) => {
    let entry = cases.get(name);
    if (!entry) {
      entry = {
        requests: 0,
        arrived: Promise.withResolvers<void>(),
        aborted: Promise.withResolvers<void>(),
      };
      cases.set(name, entry);
    }
    return entry;
  };
  const origin = startOrigin(async (request) => {
    const url = new URL(request.url);
    const entry = seen(url.searchParams.get("case") ?? "-");
    entry.requests++;
    entry.arrived.resolve();
    request.signal.addEventListener("abort", () => entry.aborted.resolve(), { once: true });
    if (url.pathname === "/slow") {
      // Answers only after 10 s: long after any test gives up.
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        request.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      return new Response("late", { headers: { "content-type": "video/mp2t" } });
    }
    // /big: BIG bytes, a chunk every 5 ms; a cancelled body says so.
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 5));
          if (sent >= BIG) return controller.close();
          sent += CHUNK;
          controller.enqueue(new Uint8Array(CHUNK));
        },
        cancel() {
          entry.aborted.resolve();
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "video/mp2t", "content-length": String(BIG) } },
    );
  });
  return { port: origin.port, seen, close: origin.close };
}

/** Sends a raw GET, waits for `until`, then closes the socket (the client goes away). */
async function leave(
  port: number,
  target: string,
  id: string,
  until: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      latin1Bytes(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\n\r\n`),
    );
    await until(conn);
  } finally {
    conn.close();
  }
}

/** Reads at least `bytes` from the connection (head included). */
async function readAtLeast(conn: Deno.Conn, bytes: number): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let received = 0;
  while (received < bytes) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${received} bytes`);
    received += n;
  }
}

function requestLine(lines: LogLine[], id: string): LogLine | undefined {
  return lines.find((l) => l.msg === "request" && l.request_id === id);
}

Deno.test("a client that goes away is 499 client_closed, never 5xx, and the upstream is cancelled", async (t) => {
  const origin = slowOrigin();
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: slowroute
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream:
      origin: "http://127.0.0.1:${origin.port}"
      request_timeout_ms: 20000
      retry: { max_attempts: 3, initial_backoff_ms: 10 }
direct_stream:
  allow_private_networks: true
  allowlist: [{ domain: "media.test", schemes: [http] }]
  hosts: { "media.test": ["127.0.0.1"] }
  retry: { max_attempts: 3, initial_backoff_ms: 10 }
rate_limit: { enabled: false }
`);
  const direct = (path: string) =>
    streamUrl(port, `http://media.test:${origin.port}${path}`).slice(
      `http://127.0.0.1:${port}`
        .length,
    );
  try {
    for (
      const [mode, target] of [
        ["route", "/slow?case=route-early"],
        ["direct", direct("/slow?case=direct-early")],
      ] as const
    ) {
      await t.step(`${mode} mode: the client leaves before the origin answers`, async () => {
        const name = `${mode}-early`;
        const seen = origin.seen(name);
        await leave(port, target, name, () => withTimeout(seen.arrived.promise, 5000, "arrival"));
        await withTimeout(seen.aborted.promise, 2000, "the origin to see its request cancelled");
        const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === name);
        assert.equal(line.status, 499);
        assert.equal(line.outcome, "client_closed");
        assert.equal(line.level, "warn");
        assert.equal(line.bytes, 0);
        // A retry would come 10 ms after the abort: none does.
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(seen.requests, 1, "no retry after the client went away");
      });
    }

    for (
      const [mode, target] of [
        ["route", "/big?case=route-mid"],
        ["direct", direct("/big?case=direct-mid")],
      ] as const
    ) {
      await t.step(`${mode} mode: the client leaves mid-body`, async () => {
        const name = `${mode}-mid`;
        const seen = origin.seen(name);
        await leave(port, target, name, (conn) => readAtLeast(conn, 4 * CHUNK));
        await withTimeout(seen.aborted.promise, 2000, "the origin to see its body cancelled");
        const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === name);
        assert.equal(line.status, 499);
        assert.equal(line.outcome, "client_closed");
        const bytes = line.bytes as number;
        assert.ok(bytes >= 3 * CHUNK && bytes < BIG, `bytes before the hang-up: ${bytes}`);
      });
    }

    await t.step("a delivered body is ok; the departures count as 4xx, none as 5xx", async () => {
      const whole = await fetch(`http://127.0.0.1:${port}/big?case=whole`, {
        headers: { "x-request-id": "whole" },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal((await whole.bytes()).byteLength, BIG);
      const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "whole");
      assert.equal(line.outcome, "ok");
      assert.equal(line.status, 200);
      assert.equal(line.bytes, BIG);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.doesNotMatch(text, /^sprox_http_requests_total\{[^}]*status_class="5xx"/m);
      assert.match(
        text,
        /^sprox_http_requests_total\{route="slowroute",method="GET",status_class="4xx"\} 2$/m,
      );
      assert.match(
        text,
        /^sprox_http_requests_total\{route="direct_stream",method="GET",status_class="4xx"\} 2$/m,
      );
      assert.match(text, /^sprox_request_errors_total\{reason="client_closed"\} 4$/m);
      assert.match(text, /^sprox_direct_requests_total\{outcome="client_closed"\} 1$/m);
      assert.doesNotMatch(text, /^sprox_upstream_retries_total\{[^}]*\} [1-9]/m);
    });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("an origin that dies mid-body leaves a truncated line with the bytes delivered", async () => {
  const declared = 300_000;
  const sent = 100_000;
  const origin = shortBodyOrigin(() => ({
    type: "video/mp2t",
    declared,
    body: new Uint8Array(sent),
  }));
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: dying
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.port}" }
direct_stream:
  allow_private_networks: true
  allowlist: [{ domain: "media.test", schemes: [http] }]
  hosts: { "media.test": ["127.0.0.1"] }
rate_limit: { enabled: false }
`);
  try {
    for (
      const [id, url] of [
        ["trunc-route", `http://127.0.0.1:${port}/movie.ts`],
        ["trunc-direct", streamUrl(port, `http://media.test:${origin.port}/movie.ts`)],
      ]
    ) {
      const response = await fetch(url, {
        headers: { "x-request-id": id },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-length"), String(declared));
      let received = 0;
      await assert.rejects(async () => {
        for await (const chunk of response.body!) received += chunk.byteLength;
      });
      assert.equal(received, sent, `${id}: the client got what the origin sent`);
      const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === id);
      assert.equal(line.outcome, "truncated", id);
      assert.equal(line.bytes, sent, id);
      assert.equal(line.status, 200, id);
      assert.equal(line.level, "warn", id);
    }
  } finally {
    await sprox.stop();
    origin.close();
  }
});

Deno.test("a download cut at the end of the shutdown grace period is logged as shutdown", async () => {
  const origin = startOrigin(() => {
    // Endless and slow: only the shutdown ends it.
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 20));
          controller.enqueue(new Uint8Array(CHUNK));
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "video/mp2t", "content-length": String(1 << 30) } },
    );
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: endless
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.port}" }
rate_limit: { enabled: false }
server: { shutdown_grace_ms: 300 }
`);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      latin1Bytes("GET /live.ts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: cut\r\n\r\n"),
    );
    await withTimeout(readAtLeast(conn, 2 * CHUNK), 5000, "the download to start");
    // The client keeps reading: only the server ends this download.
    const reading = (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (await conn.read(buffer) !== null) { /* keep reading */ }
      } catch {
        // Reset by the server.
      }
    })();
    sprox.kill("SIGTERM");
    const status = await withTimeout(sprox.status, 10_000, "sprox to exit");
    await withTimeout(reading, 5000, "the server to close the connection");
    assert.equal(status.code, 0, `${sprox.stderr()}\n${JSON.stringify(sprox.logs.slice(-5))}`);
    const line = requestLine(sprox.logs, "cut");
    assert.ok(line, `the cut request was logged before exit: ${JSON.stringify(sprox.logs)}`);
    assert.equal(line.outcome, "shutdown");
    assert.equal(line.status, 200);
    assert.equal(line.level, "warn");
    assert.ok((line.bytes as number) >= 2 * CHUNK);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the server.
    }
    sprox.kill("SIGKILL");
    await sprox.status;
    await origin.close();
  }
});
