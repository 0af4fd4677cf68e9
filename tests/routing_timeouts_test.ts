/**
 * Upstream failure modes over real sockets, each with its own outcome: connect timeout,
 * request timeout (504), read idle timeout (stream aborted), refused (502), an origin dying
 * mid-body (client response ends visibly), and a client disconnecting mid-download (the
 * origin observes the cancellation).
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";
import { hostClient, startOrigin } from "./_support/origins.ts";

const CHUNK = new Uint8Array(64 * 1024).fill(120);

function route(id: string, port: number, origin: string, upstream = ""): string {
  return `
  - id: ${id}
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["${id}.test"]
    upstream:
      origin: "${origin}"
      connect_timeout_ms: 400
      request_timeout_ms: 1000
      read_timeout_ms: 400
      retry: { max_attempts: 1 }
      ${upstream}`;
}

Deno.test("upstream timeouts, refusals and mid-body failures have distinct outcomes", async (t) => {
  const forever = Promise.withResolvers<void>();
  const upstreamAborted = Promise.withResolvers<void>();
  const noHeaders = await startOrigin(async (request) => {
    if (new URL(request.url).pathname === "/cancel-me") {
      request.signal.addEventListener("abort", () => upstreamAborted.resolve());
    }
    await forever.promise;
    return new Response("late");
  });
  const stallBody = await startOrigin(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(CHUNK);
        },
        async pull() {
          await forever.promise;
        },
      }),
      { headers: { "content-length": String(10 * CHUNK.length) } },
    )
  );
  const dies = await startOrigin(() => {
    let sent = 0;
    return new Response(
      new ReadableStream({
        pull(c) {
          if (sent++ < 3) c.enqueue(CHUNK);
          else c.error(new Error("origin crashed"));
        },
      }),
    );
  });
  const cancelled = Promise.withResolvers<number>();
  const endless = await startOrigin(() => {
    let sent = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 5));
          sent += CHUNK.length;
          c.enqueue(CHUNK);
        },
        cancel() {
          cancelled.resolve(sent);
        },
      }),
    );
  });
  // A listener that never accepts, with a one-slot queue we fill: connects then hang.
  const blackhole = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 0 });
  const blackholePort = (blackhole.addr as Deno.NetAddr).port;
  const filler = await Deno.connect({ hostname: "127.0.0.1", port: blackholePort });

  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:${route("noheaders", port, noHeaders.url)}${route("stallbody", port, stallBody.url)}${
    route("blackhole", port, `http://127.0.0.1:${blackholePort}`)
  }${route("refused", port, `http://127.0.0.1:${freePort()}`)}${route("dies", port, dies.url)}${
    route("endless", port, endless.url)
  }
`);
  const client = hostClient();
  const get = (host: string) =>
    fetch(`http://127.0.0.1:${port}/file`, { client, headers: { host }, signal: deadline() });
  const failure = (reason: string, route: string) =>
    sprox.waitForLog((l) =>
      (l.msg === "upstream request failed" || l.msg.startsWith("upstream body failed")) &&
      l.reason === reason && l.route === route
    );
  try {
    await t.step(
      "no response headers within request_timeout_ms: 504 upstream_timeout",
      async () => {
        const r = await get("noheaders.test");
        assert.equal(r.status, 504);
        assert.equal((await r.json()).error, "upstream_timeout");
        await failure("timeout", "noheaders");
      },
    );

    await t.step("client gives up before headers: the upstream request is cancelled", async () => {
      const request = fetch(`http://127.0.0.1:${port}/cancel-me`, {
        client,
        headers: { host: "noheaders.test" },
        signal: AbortSignal.timeout(200),
      });
      await assert.rejects(request);
      // The origin sees its request aborted long before request_timeout_ms would fire it.
      await withTimeout(upstreamAborted.promise, 10_000, "the upstream request to be aborted");
      await sprox.waitForLog((l) =>
        l.msg.startsWith("client went away before the upstream answered") &&
        l.route === "noheaders"
      );
    });

    await t.step("TCP connect stalls: 504 upstream_connect_timeout", async () => {
      const r = await get("blackhole.test");
      assert.equal(r.status, 504);
      assert.equal((await r.json()).error, "upstream_connect_timeout");
      await failure("connect_timeout", "blackhole");
    });

    await t.step("connection refused: 502 upstream_refused", async () => {
      const r = await get("refused.test");
      assert.equal(r.status, 502);
      assert.equal((await r.json()).error, "upstream_refused");
      await failure("refused", "refused");
    });

    await t.step("body stalls past read_timeout_ms: the client stream is aborted", async () => {
      const r = await get("stallbody.test");
      assert.equal(r.status, 200);
      let received = 0;
      await assert.rejects(async () => {
        for await (const chunk of r.body!) received += chunk.length;
      });
      assert.ok(received < 10 * CHUNK.length, "never looks complete");
      await failure("read_timeout", "stallbody");
      await sprox.waitForLog((l) =>
        l.msg === "request" && l.route === "stallbody" && l.outcome === "upstream_read_timeout"
      );
    });

    await t.step("origin dies mid-body: the client response ends in an error", async () => {
      const r = await get("dies.test");
      assert.equal(r.status, 200);
      await assert.rejects(() => r.arrayBuffer());
      await failure("body_error", "dies");
    });

    await t.step("client disconnects mid-download: the origin sees the cancellation", async () => {
      const r = await get("endless.test");
      const reader = r.body!.getReader();
      let got = 0;
      while (got < 4 * CHUNK.length) got += (await reader.read()).value!.length;
      await reader.cancel();
      const sent = await withTimeout(
        cancelled.promise,
        10_000,
        "the upstream body to be cancelled",
      );
      assert.ok(sent > 0);
    });

    await t.step("each reason is counted", async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
        .text();
      for (
        const [scope, reason] of [
          ["noheaders", "timeout"],
          ["blackhole", "connect_timeout"],
          ["refused", "refused"],
          ["stallbody", "read_timeout"],
          ["dies", "body_error"],
        ]
      ) {
        assert.match(
          text,
          new RegExp(`sprox_upstream_errors_total\\{scope="${scope}",reason="${reason}"\\} 1`),
        );
      }
    });
  } finally {
    client.close();
    await sprox.stop();
    forever.resolve();
    filler.close();
    blackhole.close();
    await Promise.all([noHeaders.close(), stallBody.close(), dies.close(), endless.close()]);
  }
});
