/**
 * A real `redis-server` on loopback for the shared-state tests, and raw RESP commands to it
 * (what a test reads back from Redis does not go through the client sProx uses).
 * @module
 */
import { requirePeer } from "./peers.ts";
import { freePort } from "./sprox.ts";
import { withTimeout } from "./timeout.ts";

/** Sends one command and returns the raw RESP reply (one read of up to 1 KiB). */
export async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const encoder = new TextEncoder();
  const conn = await withTimeout(
    Deno.connect({ hostname: "127.0.0.1", port }),
    5_000,
    "connect to redis-server",
  );
  try {
    const payload = `*${args.length}\r\n` +
      args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("");
    await conn.write(encoder.encode(payload));
    const buffer = new Uint8Array(1024);
    const n = await withTimeout(conn.read(buffer), 5_000, `redis reply to ${args[0]}`);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

/** Starts `redis-server` (no persistence) on a free port; resolves once it answers PING. */
export async function startRedis(): Promise<{ port: number; process: Deno.ChildProcess }> {
  const binary = await requirePeer("redis-server");
  const port = freePort();
  const process = new Deno.Command(binary, {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const until = Date.now() + 10_000;
  while (true) {
    try {
      if ((await redisCommand(port, "PING")) === "+PONG\r\n") return { port, process };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) {
      process.kill("SIGKILL");
      await process.status;
      throw new Error(`redis-server did not answer PING on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
