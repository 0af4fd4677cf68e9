/**
 * Connecting only to the address the guard checked (closing the DNS-rebinding window).
 *
 * `fetch` resolves names itself, so a name checked a moment ago could resolve elsewhere
 * when the socket opens. sProx never lets it choose the address:
 * - `http:` — the request goes to the checked IP literal (`http://192.0.2.7:8080/path`)
 *   with `Host: <name>[:port]` set explicitly, on one shared client created with
 *   `allowHost: true`. No name reaches the runtime's resolver.
 * - `https:` — the URL must keep the name (SNI and certificate verification), so the client
 *   uses an HTTP CONNECT proxy that lives in this process on loopback (the pin tunnel). The
 *   runtime sends `CONNECT name:port` with a credential issued for that name, port and
 *   checked address; the tunnel accepts only that target, opens a socket to the checked
 *   address and splices bytes. TLS runs end to end inside the tunnel. Such clients are
 *   pooled per (name, port, address) so connections and TLS sessions are reused; a pooled
 *   connection always leads to the address it was opened for.
 * With an outbound `proxy_url`, the outbound proxy resolves names; see the documentation
 * for that residual risk.
 * @module
 */
import { UPSTREAM_POOL } from "../../net/mod.ts";
import { log } from "../../telemetry/mod.ts";
import type { CheckedAddress } from "./guard.ts";

/** How to send one exchange so that it reaches only the checked address. */
export interface PinnedRoute {
  readonly client: Deno.HttpClient;
  /** The URL to pass to `fetch` (an IP literal for `http:`). */
  readonly url: URL;
  /** A `Host` header to set, when the URL no longer carries the name. */
  readonly host: string | null;
  /** Returns the client to the pool; idempotent. */
  release(): void;
}

interface Pin {
  readonly host: string;
  readonly port: number;
  readonly address: CheckedAddress;
}

/** A client shared by exchanges; closed only once no exchange uses it. */
interface Pooled {
  readonly client: Deno.HttpClient;
  readonly token: string;
  active: number;
  lastUsed: number;
}

const MAX_HEAD = 8192;
const MAX_POOLED = 64;
const IDLE_MS = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Brackets an IPv6 address for URLs. */
function urlHost(address: CheckedAddress): string {
  return address.family === 6 ? `[${address.ip}]` : address.ip;
}

/** Owns the shared http client, the pooled https clients and the loopback CONNECT tunnel. */
export class PinnedConnector {
  #listener: Deno.Listener | undefined;
  #pins = new Map<string, Pin>();
  #pool = new Map<string, Pooled>();
  #http: Pooled | undefined;
  #proxy: Pooled | undefined;
  #closed = false;
  #retired = new WeakSet<Pooled>();

  /** @param proxyUrl an outbound HTTP proxy every exchange goes through (no pinning). */
  constructor(proxyUrl: string | null = null) {
    if (proxyUrl) {
      const client = Deno.createHttpClient({ ...UPSTREAM_POOL, proxy: { url: proxyUrl } });
      this.#proxy = { client, token: "", active: 0, lastUsed: 0 };
    }
  }

  /** Builds the route for one exchange to `url` that can only reach `address`. */
  route(url: URL, address: CheckedAddress): PinnedRoute {
    if (this.#closed) throw new Error("pinned connector is closed");
    if (this.#proxy) return this.#lease(this.#proxy, url, null);
    if (url.protocol === "http:") {
      this.#http ??= {
        client: Deno.createHttpClient({ ...UPSTREAM_POOL, allowHost: true }),
        token: "",
        active: 0,
        lastUsed: 0,
      };
      const literal = new URL(url.href);
      literal.hostname = urlHost(address);
      return this.#lease(this.#http, literal, url.host);
    }
    const key = `${url.hostname.toLowerCase()}|${address.port}|${address.ip}`;
    this.#sweep();
    let entry = this.#pool.get(key);
    if (!entry) {
      const token = crypto.randomUUID();
      this.#pins.set(token, { host: url.hostname.toLowerCase(), port: address.port, address });
      entry = { client: this.#tunnelClient(token), token, active: 0, lastUsed: Date.now() };
      if (this.#pool.size < MAX_POOLED) this.#pool.set(key, entry);
      else return this.#oneOff(url, entry);
    }
    return this.#lease(entry, url, null);
  }

  #lease(entry: Pooled, url: URL, host: string | null): PinnedRoute {
    entry.active++;
    let released = false;
    return {
      client: entry.client,
      url,
      host,
      release: () => {
        if (released) return;
        released = true;
        entry.active--;
        entry.lastUsed = Date.now();
        // A retired plan closes its clients as their last exchanges end.
        if (this.#closed && entry.active === 0) this.#retire(entry);
      },
    };
  }

  #retire(entry: Pooled): void {
    if (entry.token) this.#pins.delete(entry.token);
    if (this.#retired.has(entry)) return;
    this.#retired.add(entry);
    entry.client.close();
  }

  /** The loopback port of the CONNECT tunnel, once an https client started it. */
  get tunnelPort(): number | undefined {
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port;
  }

  /**
   * Retires the connector: no new exchanges; idle clients close now, busy ones when their
   * last exchange ends (a long download outlives a reload); the tunnel stops listening
   * (established tunnels finish on their own).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of [this.#http, this.#proxy, ...this.#pool.values()]) {
      if (entry && entry.active === 0) this.#retire(entry);
    }
    this.#listener?.close();
    this.#listener = undefined;
  }

  #tunnelClient(token: string): Deno.HttpClient {
    const listener = this.#tunnel();
    return Deno.createHttpClient({
      ...UPSTREAM_POOL,
      // HTTP/1.1 upstream, as reverse proxies usually speak: measured on loopback, Deno's
      // HTTP/2 client took ~44 ms per 64 KiB response where HTTP/1.1 took ~1 ms.
      http2: false,
      proxy: {
        url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
        basicAuth: { username: token, password: "pin" },
      },
    });
  }

  /** A client outside the pool (the pool is full of busy clients), closed on release. */
  #oneOff(url: URL, entry: Pooled): PinnedRoute {
    let released = false;
    return {
      client: entry.client,
      url,
      host: null,
      release: () => {
        if (released) return;
        released = true;
        this.#retire(entry);
      },
    };
  }

  /** Closes pooled clients idle for longer than {@linkcode IDLE_MS}. */
  #sweep(now = Date.now()): void {
    for (const [key, entry] of this.#pool) {
      if (entry.active === 0 && now - entry.lastUsed > IDLE_MS) {
        this.#pool.delete(key);
        this.#retire(entry);
      }
    }
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
    // Spliced TLS records are small and latency-bound: no Nagle delay on either leg.
    upstream.setNoDelay(true);
    (conn as Deno.TcpConn).setNoDelay(true);
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
