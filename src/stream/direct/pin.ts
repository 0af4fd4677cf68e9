/**
 * Connecting only to the address the guard checked (closing the DNS-rebinding window).
 *
 * `fetch` resolves names itself, so a name checked a moment ago could resolve elsewhere
 * when the socket opens. Each upstream exchange therefore gets its own HTTP client whose
 * transport is bound to the checked address:
 * - `http:` — `Deno.createHttpClient({ proxy: { transport: "tcp", hostname: ip, port } })`:
 *   every request of the client is written to that socket; the URL (and so `Host`) keeps
 *   the name.
 * - `https:` — the `tcp` transport does not wrap TLS, so the client instead uses an HTTP
 *   CONNECT proxy that lives in this process on loopback (the pin tunnel). The runtime
 *   sends `CONNECT name:port` with a one-time credential; the tunnel accepts only the
 *   name and port that credential was issued for, opens a socket to the checked address
 *   and splices bytes. TLS runs end to end inside the tunnel, with SNI and certificate
 *   verification for the name, exactly as without the tunnel.
 * With an outbound `proxy_url`, the outbound proxy resolves names; see the documentation
 * for that residual risk.
 * @module
 */
import { log } from "../../telemetry/mod.ts";
import type { CheckedAddress } from "./guard.ts";

/** An HTTP client bound to one checked address, released when its exchange ends. */
export interface PinnedClient {
  readonly client: Deno.HttpClient;
  /** Closes the client and forgets the credential; idempotent. */
  release(): void;
}

interface Pin {
  readonly host: string;
  readonly port: number;
  readonly address: CheckedAddress;
}

const MAX_HEAD = 8192;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Brackets an IPv6 address for socket APIs that take a host string. */
function socketHost(address: CheckedAddress): string {
  return address.family === 6 ? `[${address.ip}]` : address.ip;
}

/** Owns the loopback CONNECT tunnel and issues pinned clients. */
export class PinnedConnector {
  #listener: Deno.Listener | undefined;
  #pins = new Map<string, Pin>();
  #closed = false;

  /** Builds a client for `url` that can only reach `address`. */
  clientFor(url: URL, address: CheckedAddress): PinnedClient {
    if (url.protocol === "http:") {
      const client = Deno.createHttpClient({
        proxy: { transport: "tcp", hostname: socketHost(address), port: address.port },
      });
      return onceReleased(client, () => {});
    }
    const listener = this.#tunnel();
    const token = crypto.randomUUID();
    const host = url.hostname.toLowerCase();
    this.#pins.set(token, { host, port: address.port, address });
    const client = Deno.createHttpClient({
      proxy: {
        url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
        basicAuth: { username: token, password: "pin" },
      },
    });
    return onceReleased(client, () => this.#pins.delete(token));
  }

  /** The loopback port of the CONNECT tunnel, once an https client started it. */
  get tunnelPort(): number | undefined {
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port;
  }

  /** Stops the tunnel listener (established tunnels finish on their own). */
  close(): void {
    this.#closed = true;
    this.#listener?.close();
    this.#listener = undefined;
  }

  #tunnel(): Deno.Listener {
    if (this.#closed) throw new Error("pinned connector is closed");
    if (this.#listener) return this.#listener;
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    (async () => {
      try {
        for await (const conn of listener) this.#serve(conn).catch(() => conn.close());
      } catch {
        // Listener closed.
      }
    })();
    return listener;
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const { head, rest } = await readHead(conn);
    const pin = this.#authorise(head);
    if (!pin) {
      await conn.write(encoder.encode("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
      conn.close();
      return;
    }
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: pin.address.ip, port: pin.address.port });
    } catch (error) {
      log("debug", "pinned connect failed", { error: String(error) });
      await conn.write(encoder.encode("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
      conn.close();
      return;
    }
    await conn.write(encoder.encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
    if (rest.length > 0) await upstream.write(rest);
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
  }

  /** The pin a CONNECT request may use: its credential issued for exactly this target. */
  #authorise(head: string): Pin | undefined {
    const [requestLine, ...fields] = head.split("\r\n");
    const match = /^CONNECT (\S+) HTTP\/1\.[01]$/.exec(requestLine);
    if (!match) return undefined;
    const auth = fields.find((f) => /^proxy-authorization:/i.test(f));
    const basic = auth && /^proxy-authorization:\s*basic\s+(\S+)$/i.exec(auth);
    if (!basic) return undefined;
    let token: string;
    try {
      token = atob(basic[1]).split(":")[0];
    } catch {
      return undefined;
    }
    const pin = this.#pins.get(token);
    if (!pin) return undefined;
    const authority = match[1].toLowerCase();
    const sep = authority.lastIndexOf(":");
    const host = authority.slice(0, sep).replace(/^\[(.*)\]$/, "$1");
    const port = Number(authority.slice(sep + 1));
    const expected = pin.host.replace(/^\[(.*)\]$/, "$1");
    return host === expected && port === pin.port ? pin : undefined;
  }
}

function onceReleased(client: Deno.HttpClient, forget: () => void): PinnedClient {
  let released = false;
  return {
    client,
    release() {
      if (released) return;
      released = true;
      forget();
      client.close();
    },
  };
}

async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  const buffer = new Uint8Array(MAX_HEAD);
  let length = 0;
  while (length < MAX_HEAD) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
    const text = decoder.decode(buffer.subarray(0, length));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const headBytes = encoder.encode(text.slice(0, end + 4)).length;
      return { head: text.slice(0, end), rest: buffer.slice(headBytes, length) };
    }
  }
  return { head: "", rest: new Uint8Array() };
}
