import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, withTimeout } from "../../../tests/_support/timeout.ts";
import { PinnedConnector } from "./pin.ts";

async function connectStatus(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const buffer = new Uint8Array(256);
    // A tunnel that never answers fails the test instead of hanging it.
    const n = await withTimeout(conn.read(buffer), 5_000, "the tunnel's status line");
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("the pin tunnel refuses CONNECTs without the credential issued for that target", async () => {
  const recorder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  (async () => {
    for await (const conn of recorder) {
      accepted++;
      conn.close();
    }
  })().catch(() => {});
  const target = (recorder.addr as Deno.NetAddr).port;
  const connector = new PinnedConnector();
  const pinned = connector.route(new URL(`https://media.test:${target}/`), {
    ip: "127.0.0.1",
    family: 4,
    port: target,
  });
  const port = connector.tunnelPort!;
  const forged = btoa(`${crypto.randomUUID()}:pin`);
  try {
    assertEquals(
      await connectStatus(port, `CONNECT media.test:${target} HTTP/1.1\r\n\r\n`),
      "HTTP/1.1 403 Forbidden",
    );
    assertEquals(
      await connectStatus(
        port,
        `CONNECT media.test:${target} HTTP/1.1\r\nProxy-Authorization: Basic ${forged}\r\n\r\n`,
      ),
      "HTTP/1.1 403 Forbidden",
    );
    assertEquals(await connectStatus(port, `GET / HTTP/1.1\r\n\r\n`), "HTTP/1.1 403 Forbidden");
    assertEquals(accepted, 0);
  } finally {
    pinned.release();
    connector.close();
    recorder.close();
  }
});

Deno.test("a retired connector lets an in-flight body finish, then refuses new exchanges", async () => {
  const chunk = new Uint8Array(256 * 1024);
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    let sent = 0;
    return new Response(
      new ReadableStream({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 5));
          controller.enqueue(chunk);
          if (++sent === 8) controller.close();
        },
      }),
      { headers: { "x-host": request.headers.get("host") ?? "" } },
    );
  });
  const connector = new PinnedConnector();
  const url = new URL(`http://media.test:${origin.addr.port}/movie`);
  const route = connector.route(url, { ip: "127.0.0.1", family: 4, port: origin.addr.port });
  try {
    assertEquals(route.url.hostname, "127.0.0.1");
    const response = await fetch(route.url, {
      client: route.client,
      headers: { host: route.host! },
      signal: deadline(),
    });
    assertEquals(response.headers.get("x-host"), `media.test:${origin.addr.port}`);
    connector.close();
    assertEquals((await response.arrayBuffer()).byteLength, 8 * chunk.length);
    route.release();
    let refused = false;
    try {
      connector.route(url, { ip: "127.0.0.1", family: 4, port: origin.addr.port });
    } catch {
      refused = true;
    }
    assertEquals(refused, true);
  } finally {
    connector.close();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
  }
});
