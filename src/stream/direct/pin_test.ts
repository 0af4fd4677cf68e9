import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { PinnedConnector } from "./pin.ts";

async function connectStatus(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  const buffer = new Uint8Array(256);
  const n = await conn.read(buffer);
  conn.close();
  return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
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
