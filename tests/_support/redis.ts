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

/** A RESP reply: simple and bulk strings (latin1, byte for byte), integers, arrays, nil. */
export type RespValue = string | number | null | RespValue[];

/**
 * Sends one command and parses its whole reply (of any length; bulk strings come back as
 * latin1 text, one character per byte, so binary values can be scanned).
 */
export async function redisCall(port: number, ...args: string[]): Promise<RespValue> {
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
    let text = "";
    const buffer = new Uint8Array(64 * 1024);
    // Parses one value at `at`; `undefined` while the reply is incomplete.
    const parse = (at: number): [RespValue, number] | undefined => {
      const eol = text.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const head = text.slice(at + 1, eol);
      switch (text[at]) {
        case "+":
          return [head, eol + 2];
        case "-":
          throw new Error(`redis error: ${head}`);
        case ":":
          return [Number(head), eol + 2];
        case "$": {
          const length = Number(head);
          if (length < 0) return [null, eol + 2];
          if (text.length < eol + 2 + length + 2) return undefined;
          return [text.slice(eol + 2, eol + 2 + length), eol + 2 + length + 2];
        }
        case "*": {
          const count = Number(head);
          if (count < 0) return [null, eol + 2];
          const items: RespValue[] = [];
          let next = eol + 2;
          for (let i = 0; i < count; i++) {
            const item = parse(next);
            if (item === undefined) return undefined;
            items.push(item[0]);
            next = item[1];
          }
          return [items, next];
        }
        default:
          throw new Error(`unexpected RESP reply: ${JSON.stringify(text.slice(at, at + 40))}`);
      }
    };
    while (true) {
      const n = await withTimeout(conn.read(buffer), 5_000, `redis reply to ${args[0]}`);
      if (n === null) throw new Error(`redis closed the connection during ${args[0]}`);
      for (let i = 0; i < n; i++) text += String.fromCharCode(buffer[i]);
      const parsed = parse(0);
      if (parsed !== undefined) return parsed[0];
    }
  } finally {
    conn.close();
  }
}

/**
 * Starts `redis-server` on a free port (or `port`, to restart one where it was); resolves once
 * it answers PING. No persistence, unless `dir` is given: then every write is appended to an
 * append-only file there (fsync on each), so a server started again on `dir` holds what the
 * killed one held.
 */
export async function startRedis(
  options: { port?: number; dir?: string } = {},
): Promise<{ port: number; process: Deno.ChildProcess }> {
  const binary = await requirePeer("redis-server");
  const port = options.port ?? freePort();
  const persistence = options.dir
    ? ["--dir", options.dir, "--appendonly", "yes", "--appendfsync", "always"]
    : ["--appendonly", "no"];
  const process = new Deno.Command(binary, {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence],
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
