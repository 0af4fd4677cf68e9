/**
 * HTTP/3 on a listener (`listen.http3`): the UDP socket beside the TCP one, admission and
 * serving of each QUIC connection through the same connection table and handler, its
 * drain, and the `Alt-Svc` advertisement on HTTP/1.1 and HTTP/2 answers.
 * @module
 */
import { copyHeaders } from "../net/mod.ts";
import type { Config } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import {
  connectionsAccepted,
  connectionsByProtocol,
  connectionsOpen,
  connectionsShed,
  h3Errors,
  log,
  tlsHandshakes,
} from "../telemetry/mod.ts";
import type { TrackedConnection } from "./connections.ts";
import { errorCodeName, H3Session, QuicSocket } from "./h3/mod.ts";
import { BindError, type BindOptions, formatAddress } from "./listener.ts";
import type { ListenerRecord } from "./record.ts";

/** Concurrent request streams per HTTP/3 connection (QUIC MAX_STREAMS, bidirectional). */
const H3_MAX_CONCURRENT_STREAMS = 100;

/** How much longer QUIC's idle timeout is than `server.limits.idle_timeout_ms`. */
const QUIC_IDLE_MARGIN_MS = 10_000;

/** How long HTTP/3 clients may cache the Alt-Svc advertisement, in seconds. */
const ALT_SVC_MAX_AGE = 86400;

/** What serving HTTP/3 on a listener needs from the server. */
export interface QuicServing {
  /** The limits of the current plan. */
  limits(): Config["server"]["limits"];
  /** Answers one request of `tracked` on `record` (the server's own request path). */
  handle(
    record: ListenerRecord,
    tracked: TrackedConnection,
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response>;
}

/** The answer to a request the HTTP/3 layer refuses before the application. */
function errorFor(status: 400 | 431 | 501, message: string): Response {
  const reason = status === 431
    ? "request_header_fields_too_large"
    : status === 501
    ? "method_not_implemented"
    : "bad_request";
  return errorResponse(new ProxyError(status, reason, message));
}

/**
 * Binds the UDP socket of an HTTP/3 listener on the TCP socket's port and accepts on it;
 * throws a {@linkcode BindError} when the port is taken.
 */
export function startQuic(
  record: ListenerRecord,
  options: BindOptions,
  serving: QuicServing,
): void {
  const limits = serving.limits();
  const port = record.socket.addr.port;
  let quic: QuicSocket;
  try {
    quic = QuicSocket.bind({
      hostname: record.listener.host,
      port,
      cert: options.tls!.cert,
      key: options.tls!.key,
      maxConcurrentStreams: H3_MAX_CONCURRENT_STREAMS,
      // Past sProx's own idle timeout, so that the table closes quiet connections itself
      // (GOAWAY, H3_NO_ERROR, counted); QUIC's catches peers that vanished.
      idleTimeoutMs: limits.idle_timeout_ms + QUIC_IDLE_MARGIN_MS,
    });
  } catch (error) {
    throw new BindError(`${formatAddress(record.listener.host, port)}/udp`, error);
  }
  record.quic = quic;
  void acceptQuic(record, quic, serving);
}

/** Accepts HTTP/3 connections on `quic` for `record` until the endpoint closes. */
async function acceptQuic(
  record: ListenerRecord,
  quic: QuicSocket,
  serving: QuicServing,
): Promise<void> {
  for await (const incoming of quic.incoming()) {
    void onQuicIncoming(record, incoming, serving);
  }
}

/**
 * Handshakes, admits and serves one HTTP/3 connection. The peer's address is only known
 * after the handshake (see `h3/endpoint.ts`), so admission comes second; a connection
 * over a limit is closed at once with H3_EXCESSIVE_LOAD.
 */
async function onQuicIncoming(
  record: ListenerRecord,
  incoming: Deno.QuicIncoming,
  serving: QuicServing,
): Promise<void> {
  const key = record.listener.key;
  let conn: Deno.QuicConn;
  try {
    conn = await incoming.accept();
  } catch {
    tlsHandshakes.labels(key, "quic", "failed").inc();
    return;
  }
  tlsHandshakes.labels(key, "quic", "ok").inc();
  const served: { session?: H3Session } = {};
  const admission = record.table.admit(
    conn.remoteAddr.hostname,
    // Never an immediate close: that would drop the end of a response still unsent.
    () => served.session?.closeGracefully(),
    { protocol: "h3" },
  );
  if (!admission.admitted) {
    connectionsShed.labels(key, admission.reason).inc();
    try {
      conn.close({ closeCode: 0x107, reason: "connection limit" });
    } catch {
      // Already closed.
    }
    return;
  }
  const tracked = admission.connection;
  connectionsAccepted.labels(key).inc();
  connectionsOpen.labels(key).inc();
  connectionsByProtocol.labels(key, "h3").inc();
  const limits = serving.limits();
  const session = served.session = new H3Session(conn, {
    maxFieldSectionSize: limits.max_header_bytes,
    headerTimeoutMs: limits.header_timeout_ms,
    handler: (request, info) => serving.handle(record, tracked, request, info),
    refusal: errorFor,
    failure: (error) => {
      log("debug", "response failed", { listener: key, error: String(error) });
      return errorResponse(new ProxyError(500, "internal", "internal error"));
    },
    onError: (code, scope) => h3Errors.labels(key, errorCodeName(code), scope).inc(),
  });
  record.http.set(tracked.id, {
    finished: session.finished,
    abort: () => session.close(),
    drain: () => session.goaway(),
  });
  // A draining listener sends GOAWAY at once.
  if (record.draining) session.goaway();
  session.start();
  await session.finished;
  record.table.remove(tracked);
  record.http.delete(tracked.id);
  connectionsOpen.labels(key).dec();
}

/** Stops HTTP/3 on a listener: GOAWAY to its connections, which close when idle. */
export async function stopQuic(record: ListenerRecord, graceMs: number): Promise<void> {
  const quic = record.quic;
  if (!quic) return;
  record.quic = undefined;
  quic.stopAccepting();
  // Sessions close themselves once GOAWAY is sent and their last request is done.
  const sessions = [...record.http.values()].filter((h) => h.drain !== undefined);
  for (const session of sessions) session.drain!();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(sessions.map((s) => s.finished)),
    new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
  ]);
  clearTimeout(timer);
  quic.close();
}

/**
 * Adds `Alt-Svc: h3=":<port>"` to an HTTP/1.1 or HTTP/2 response of an HTTP/3 listener
 * (RFC 7838, RFC 9114 §3.1.1), unless the request's host has a certificate of its own: QUIC
 * serves the default certificate only, and a client sent there would fail its handshake.
 */
export function advertiseHttp3(
  record: ListenerRecord,
  request: Request,
  response: Response,
  port: number,
): Response {
  // HTTP/2 requests carry :authority, not Host; the URL has either.
  const host = new URL(request.url).hostname.replace(/^\[|\]$/g, "");
  if (record.selector?.namedFor(host)) return response;
  const value = `h3=":${port}"; ma=${ALT_SVC_MAX_AGE}`;
  try {
    response.headers.set("alt-svc", value);
    return response;
  } catch {
    // Immutable headers: copy.
    const headers = copyHeaders(response.headers);
    headers.set("alt-svc", value);
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}
