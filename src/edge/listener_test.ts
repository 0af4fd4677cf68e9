import assert from "node:assert/strict";
import {
  acceptLoop,
  assertAddressFree,
  BindError,
  bindSocket,
  formatAddress,
  PER_CONNECTION_HTTP_AVAILABLE,
  serveHttp,
} from "./listener.ts";

Deno.test("the runtime offers the per-connection HTTP server the edge is built on", () => {
  assert.equal(PER_CONNECTION_HTTP_AVAILABLE, true);
});

Deno.test("formatAddress brackets IPv6 literals", () => {
  assert.equal(formatAddress("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatAddress("::1", 8443), "[::1]:8443");
});

Deno.test("a taken address fails with a BindError naming it", () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = held.addr.port;
  try {
    assert.throws(() => assertAddressFree("127.0.0.1", port), (error: unknown) => {
      assert.ok(error instanceof BindError);
      assert.equal(error.message, `cannot listen on 127.0.0.1:${port}: address already in use`);
      return true;
    });
  } finally {
    held.close();
  }
  assertAddressFree("127.0.0.1", port);
});

Deno.test("serveHttp answers keep-alive requests; closing a finished connection is harmless", async () => {
  const socket = bindSocket({ hostname: "127.0.0.1", port: 0 });
  const served: ReturnType<typeof serveHttp>[] = [];
  let count = 0;
  const loop = acceptLoop(socket, {
    accepted: (connection) => {
      served.push(
        serveHttp(connection, () => new Response(`n${++count}`), () => new Response("e")),
      );
    },
    acceptFailed: () => {},
  });
  try {
    const url = `http://127.0.0.1:${socket.addr.port}/`;
    const a = await fetch(url, { signal: AbortSignal.timeout(5000) });
    assert.equal(await a.text(), "n1");
    const b = await fetch(url, { signal: AbortSignal.timeout(5000) });
    assert.equal(await b.text(), "n2");
    assert.equal(served.length, 1, "the second request reused the connection");
    // The client goes away; the edge closing the finished connection must not throw.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: socket.addr.port });
    conn.close();
    await new Promise((r) => setTimeout(r, 100));
    const last = served[served.length - 1];
    await Promise.race([last.finished, new Promise((r) => setTimeout(r, 5000))]);
    last.abort();
    last.abort();
  } finally {
    socket.close();
    await loop;
    for (const s of served) s.abort();
  }
});
