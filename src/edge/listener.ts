/**
 * A listening socket with sProx's own accept loop, and HTTP served per accepted connection
 * by the runtime's HTTP engine (HTTP/1.1, and HTTP/2 by ALPN on TLS).
 *
 * `Deno.serve` owns its accept loop: it cannot refuse a connection, close one whose head
 * never completes, or survive `accept` failing with "Too many open files". Deno ships the
 * per-connection half of `Deno.serve` as an internal (`serveHttpOnConnection`, the same
 * code `Deno.serve` runs for each connection); sProx accepts with `Deno.listen` /
 * `Deno.listenTls` and hands each admitted connection to it. The runtime is pinned
 * (deno.json, `.ci/run`), and `listener_test.ts` fails if the internal goes away.
 * @module
 */

/** The runtime's per-connection HTTP server (internal API of the pinned Deno). */
type ServeOnConnection = (
  connection: Deno.Conn,
  signal: AbortSignal,
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: string) => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

// deno-lint-ignore no-explicit-any
const runtime = Deno as any;
const internals = runtime[runtime.internal] as {
  serveHttpOnConnection?: ServeOnConnection;
  resolverSymbol?: symbol;
};

/** Whether this runtime offers the per-connection HTTP server sProx needs. */
export const PER_CONNECTION_HTTP_AVAILABLE: boolean =
  typeof internals?.serveHttpOnConnection === "function";

/**
 * HTTP on one accepted connection. (The runtime's graceful `shutdown()` is not offered: after
 * it, closing the connection at the end of a grace period fails inside the runtime with an
 * uncaught "Bad resource ID" that ends the process; the edge drains connections itself.)
 */
export interface HttpConnection {
  /** Settles when the connection is closed (by either side). */
  readonly finished: Promise<void>;
  /** Closes the connection at once. */
  abort(): void;
  /** Tells the peer no new requests will be served (HTTP/3 GOAWAY); optional. */
  drain?(): void;
}

/** Serves HTTP on `connection` with `handler`. */
export function serveHttp(
  connection: Deno.Conn,
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
): HttpConnection {
  if (!PER_CONNECTION_HTTP_AVAILABLE) {
    throw new Error("this Deno runtime lacks the per-connection HTTP server sProx needs");
  }
  const controller = new AbortController();
  const server = internals.serveHttpOnConnection!(
    connection,
    controller.signal,
    handler,
    onError,
    () => {},
  );
  let open = true;
  const finished = server.finished.catch(() => {}).then(() => {
    open = false;
  });
  return {
    finished,
    abort: () => {
      if (!open) return;
      abortingConnection = true;
      try {
        controller.abort();
      } finally {
        abortingConnection = false;
      }
    },
  };
}

/**
 * Closing a connection whose runtime resource is already gone (the peer closed it a moment
 * before) makes the runtime's abort listener throw "Bad resource ID" as an uncaught error,
 * which would end the process. While the edge closes a connection, that one error is
 * expected and harmless: it is marked handled. Nothing else is touched.
 */
let abortingConnection = false;
globalThis.addEventListener("error", (event) => {
  if (abortingConnection && event.error instanceof Deno.errors.BadResource) {
    event.preventDefault();
  }
});

/** Where and how a listening socket binds. */
export interface BindOptions {
  readonly hostname: string;
  readonly port: number;
  /**
   * PEM certificate and key: a TLS listener offering h2 and http/1.1 by ALPN. With `resolve`,
   * the certificate is chosen per handshake by server name instead (see `sni.ts`).
   */
  readonly tls?: {
    readonly cert: string;
    readonly key: string;
    readonly resolve?: (serverName: string) => { cert: string; key: string };
  };
}

/** The runtime's per-handshake certificate resolver hook (internal API of the pinned Deno). */
const resolverSymbol = internals?.resolverSymbol;

/** Whether this runtime can choose a certificate per server name. */
export const SNI_RESOLVER_AVAILABLE: boolean = typeof resolverSymbol === "symbol";

/** A bind failure that names the address (and what the system said). */
export class BindError extends Error {
  constructor(address: string, cause: unknown) {
    const detail = cause instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : cause instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : cause instanceof Error
      ? cause.message
      : String(cause);
    super(`cannot listen on ${address}: ${detail}`);
    this.name = "BindError";
  }
}

/** `host:port`, with brackets around an IPv6 literal. */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Fails with a {@linkcode BindError} when another socket (another process) holds the
 * address: every sProx socket sets `SO_REUSEPORT` (certificate rotation and moving a
 * listener between host addresses on one port need it), which would otherwise let two
 * processes silently share a port.
 */
export function assertAddressFree(hostname: string, port: number): void {
  if (port === 0) return;
  let probe: Deno.Listener;
  try {
    probe = Deno.listen({ hostname, port });
  } catch (error) {
    throw new BindError(formatAddress(hostname, port), error);
  }
  probe.close();
}

/** Binds a listening socket (`SO_REUSEPORT` set). */
export function bindSocket(options: BindOptions): Deno.Listener<Deno.Conn, Deno.NetAddr> {
  const address = formatAddress(options.hostname, options.port);
  try {
    if (options.tls?.resolve) {
      if (!resolverSymbol) throw new Error("this Deno runtime cannot choose certificates by SNI");
      return Deno.listenTls(
        {
          hostname: options.hostname,
          port: options.port,
          alpnProtocols: ["h2", "http/1.1"],
          reusePort: true,
          [resolverSymbol]: options.tls.resolve,
        } as unknown as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem,
      ) as unknown as Deno.Listener<
        Deno.Conn,
        Deno.NetAddr
      >;
    }
    if (options.tls) {
      return Deno.listenTls({
        hostname: options.hostname,
        port: options.port,
        cert: options.tls.cert,
        key: options.tls.key,
        alpnProtocols: ["h2", "http/1.1"],
        reusePort: true,
      }) as unknown as Deno.Listener<Deno.Conn, Deno.NetAddr>;
    }
    return Deno.listen({ hostname: options.hostname, port: options.port, reusePort: true });
  } catch (error) {
    throw new BindError(address, error);
  }
}

/** What happened in an accept loop, for logs and metrics. */
export interface AcceptEvents {
  /** A connection was accepted; the callee admits and serves it, or closes it. */
  accepted(connection: Deno.Conn): void;
  /** `accept` failed (e.g. no descriptor left); the loop pauses and goes on. */
  acceptFailed(error: unknown): void;
}

/** Pause after a failed accept, so a descriptor shortage does not spin. */
const ACCEPT_BACKOFF_MS = 50;

/**
 * Accepts until the socket is closed. Never throws: an accept failure (descriptor
 * exhaustion) is reported and retried after a pause.
 */
export async function acceptLoop(
  socket: Deno.Listener<Deno.Conn, Deno.NetAddr>,
  events: AcceptEvents,
): Promise<void> {
  while (true) {
    let connection: Deno.Conn;
    try {
      connection = await socket.accept();
    } catch (error) {
      if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
        return; // The socket was closed.
      }
      events.acceptFailed(error);
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
      continue;
    }
    try {
      events.accepted(connection);
    } catch {
      try {
        connection.close();
      } catch {
        // Already closed.
      }
    }
  }
}
