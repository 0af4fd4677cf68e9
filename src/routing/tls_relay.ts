/**
 * A loopback TLS relay for the upstream TLS settings `Deno.createHttpClient` cannot
 * express: a server name (SNI and verification name) other than the origin URL's host,
 * and skipping verification for one route.
 *
 * The route's HTTP client sends plain HTTP/1.1 to this relay (`proxy: { transport: "tcp" }`);
 * for each connection the relay opens TCP to the origin and starts TLS itself:
 * - `Deno.startTls({ hostname: sni_hostname, caCerts })`: SNI and certificate
 *   verification use `sni_hostname`, the TCP connection goes to the origin host;
 * - with `insecure_skip_verify`, `node:tls` with `rejectUnauthorized: false` (the chain
 *   and the name are not checked).
 * When the relay cannot reach the origin, it answers the request itself with a 502 that
 * carries {@linkcode RELAY_ERROR_HEADER}, so the failure keeps its own reason.
 * @module
 */
import { Duplex } from "node:stream";
import tls from "node:tls";
import { log } from "../telemetry/mod.ts";
import { classifyUpstreamError, describeError } from "./upstream_failure.ts";

/** Response header by which the relay reports its own failure kind. */
export const RELAY_ERROR_HEADER = "x-sprox-relay-error";

/**
 * The URL sent to the loopback TLS relay for `target`: plain HTTP, same authority (the
 * client's proxy setting takes it to the relay; `Host` still names the origin).
 *
 * @example
 * ```ts
 * relayUrl(new URL("https://o.example/a")).href; // "http://o.example:443/a"
 * ```
 */
export function relayUrl(target: URL): URL {
  const url = new URL(target.href);
  const port = url.port || "443";
  url.protocol = "http:";
  url.port = port;
  return url;
}

/** Where and how the relay connects. */
export interface RelaySettings {
  readonly host: string;
  readonly port: number;
  readonly serverName: string;
  readonly caCerts: readonly string[];
  readonly insecure: boolean;
}

interface Pipe {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

function connectInsecure(settings: RelaySettings): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    // RFC 6066 §3: SNI carries host names only, never IP literals.
    const isIp = /^[\d.]+$|:/.test(settings.serverName);
    const socket = tls.connect({
      host: settings.host,
      port: settings.port,
      ...(isIp ? {} : { servername: settings.serverName }),
      rejectUnauthorized: false,
    });
    socket.once("secureConnect", () => {
      socket.removeListener("error", reject);
      const web = Duplex.toWeb(socket);
      resolve({
        readable: web.readable as ReadableStream<Uint8Array>,
        writable: web.writable as WritableStream<Uint8Array>,
      });
    });
    socket.once("error", reject);
  });
}

async function connectVerified(settings: RelaySettings): Promise<Pipe> {
  const tcp = await Deno.connect({ hostname: settings.host, port: settings.port });
  try {
    const conn = await Deno.startTls(tcp, {
      hostname: settings.serverName,
      caCerts: [...settings.caCerts],
    });
    await conn.handshake();
    return conn;
  } catch (error) {
    try {
      tcp.close();
    } catch {
      // Already closed by the failed handshake.
    }
    throw error;
  }
}

/** Reads the request head (best effort) so closing after an early answer does not reset. */
async function drainHead(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => conn.closeWrite().catch(() => {}), 200);
  try {
    await conn.read(buffer);
  } catch {
    // Nothing to drain.
  } finally {
    clearTimeout(timer);
  }
}

async function answerFailure(conn: Deno.Conn, error: unknown): Promise<void> {
  const failure = classifyUpstreamError(error);
  const body = new TextEncoder().encode(describeError(failure));
  const head = `HTTP/1.1 502 Bad Gateway\r\n${RELAY_ERROR_HEADER}: ${failure.kind}\r\n` +
    `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  await drainHead(conn);
  try {
    await conn.write(new TextEncoder().encode(head));
    await conn.write(body);
  } catch {
    // The client side is gone.
  }
  conn.close();
}

/** A running relay on 127.0.0.1. */
export class TlsRelay {
  readonly #listener: Deno.TcpListener;
  readonly #settings: RelaySettings;

  /** Binds the relay on an ephemeral loopback port and starts accepting. */
  constructor(settings: RelaySettings) {
    this.#settings = settings;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accept();
  }

  /** The loopback port the route's client connects to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) this.#relay(conn);
    } catch {
      // Listener closed.
    }
  }

  async #relay(conn: Deno.Conn): Promise<void> {
    let upstream: Pipe;
    try {
      upstream = this.#settings.insecure
        ? await connectInsecure(this.#settings)
        : await connectVerified(this.#settings);
    } catch (error) {
      log("debug", "TLS relay could not reach the origin", {
        origin: `${this.#settings.host}:${this.#settings.port}`,
        error: describeError(error),
      });
      await answerFailure(conn, error);
      return;
    }
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
  }

  /** Stops accepting; relayed connections end with their peers. */
  close(): void {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }
}
