/**
 * Raw HTTP/1.1 over a TCP socket, for requests no HTTP client will send (odd methods,
 * malformed heads, `OPTIONS *`, upgrades): write bytes, read one response, bounded in time.
 * @module
 */

/** One response read off a raw socket. */
export interface RawResponse {
  /** The final status (interim 1xx responses skipped); 0 when the server sent nothing. */
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  /** Everything read, as latin1 text. */
  readonly raw: string;
}

const encoder = new TextEncoder();

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/** Bytes for a string whose characters are all below 256 (as a socket would carry them). */
export function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

/**
 * The first complete final response in `text`, or `undefined` while it is incomplete.
 * `closed`: the server closed the connection (a body without length ends there).
 */
function parseResponse(text: string, closed: boolean): RawResponse | undefined {
  // A 1xx interim response is skipped; `start` is where the next response begins.
  let start = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", start);
    if (end < 0) return undefined;
    const head = text.slice(start, end).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1] ?? Number.NaN);
    if (Number.isNaN(status)) throw new Error(`not an HTTP response: ${JSON.stringify(head[0])}`);
    const headers = new Headers();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const bodyStart = end + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyStart;
      continue;
    }
    const length = headers.get("content-length");
    if (length !== null) {
      if (text.length - bodyStart < Number(length)) return undefined;
      const body = text.slice(bodyStart, bodyStart + Number(length));
      return { status, headers, body, raw: text };
    }
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      let body = "";
      let at = bodyStart;
      for (;;) {
        const lineEnd = text.indexOf("\r\n", at);
        if (lineEnd < 0) return undefined;
        const size = parseInt(text.slice(at, lineEnd), 16);
        if (size === 0) return { status, headers, body, raw: text };
        if (text.length < lineEnd + 2 + size + 2) return undefined;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        at = lineEnd + 2 + size + 2;
      }
    }
    if (status === 204 || status === 304 || status === 101) {
      return { status, headers, body: "", raw: text };
    }
    return closed ? { status, headers, body: text.slice(bodyStart), raw: text } : undefined;
  }
}

/** Options of {@linkcode rawRequest}. */
export interface RawRequestOptions {
  /** Longest wait for a complete response (default 3000 ms): past it, the call rejects. */
  readonly timeoutMs?: number;
  /** Close the socket right after writing and return at once (status 0). */
  readonly hangUp?: boolean;
}

/**
 * Sends `request` (a string is sent as latin1 bytes) on a new connection to 127.0.0.1:`port`
 * and reads one response. Resolves with status 0 when the server closed the connection
 * without a response; rejects when nothing complete arrived within the timeout.
 *
 * @example
 * ```ts
 * const r = await rawRequest(port, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
 * ```
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timeoutMs = options.timeoutMs ?? 3000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let text = "";
  try {
    const bytes = typeof request === "string" ? latin1Bytes(request) : request;
    try {
      await conn.write(bytes);
    } catch {
      // The server may close before reading everything (a head it refused): read what it said.
    }
    if (options.hangUp) return { status: 0, headers: new Headers(), body: "", raw: "" };
    const reading = (async () => {
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buffer);
        } catch {
          n = null;
        }
        if (n === null) {
          if (text === "") return { status: 0, headers: new Headers(), body: "", raw: "" };
          const done = parseResponse(text, true);
          if (done) return done;
          throw new Error(`connection closed mid-response: ${JSON.stringify(text.slice(0, 300))}`);
        }
        text += latin1(buffer.subarray(0, n));
        const done = parseResponse(text, false);
        if (done) return done;
      }
    })();
    // Settles after a timeout too (the socket closes in `finally`): never unhandled.
    reading.catch(() => {});
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `no complete response within ${timeoutMs} ms: ${JSON.stringify(text.slice(0, 300))}`,
            ),
          ),
        timeoutMs,
      );
    });
    return await Promise.race([reading, timeout]);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** A `GET` of `path` with `Connection: close`, as raw bytes. */
export function rawGet(path: string, headers: Record<string, string> = {}): Uint8Array {
  const lines = [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
}

/** What {@linkcode shortBodyOrigin} answers a request head with. */
export interface ShortBody {
  readonly type: string;
  /** The `Content-Length` announced. */
  readonly declared: number;
  /** The bytes actually sent: fewer than announced. */
  readonly body: Uint8Array;
}

/**
 * A raw origin that announces a body it never finishes: after reading a request head it sends
 * `answer(head)`'s bytes, then closes the connection or, with `then: "stall"`, keeps it open
 * and silent until `close()`.
 */
export function shortBodyOrigin(
  answer: (head: string) => ShortBody,
  then: "close" | "stall" = "close",
): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = Promise.withResolvers<void>();
  const serve = async (conn: Deno.Conn) => {
    try {
      const buffer = new Uint8Array(16 * 1024);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += latin1(buffer.subarray(0, n));
      }
      const { type, declared, body } = answer(head);
      await conn.write(latin1Bytes(
        `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${declared}\r\n\r\n`,
      ));
      let offset = 0;
      while (offset < body.length) offset += await conn.write(body.subarray(offset));
      if (then === "stall") await closed.promise;
    } catch {
      // The peer went away.
    } finally {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  };
  (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      closed.resolve();
      listener.close();
    },
  };
}
