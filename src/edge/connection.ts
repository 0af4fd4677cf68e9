/**
 * What the edge knows about the connection a request arrived on, shared with the app so
 * that a request whose connection the server closed (shutdown grace elapsed) is logged as
 * such rather than as a client abort, and so that every log line names the HTTP version.
 * @module
 */

/** Why the server closed a connection; `null` while it has not. */
export type ConnectionCloseReason =
  | "shutdown"
  | "header_timeout"
  | "idle_timeout"
  | "make_room";

/** The HTTP version a connection speaks: HTTP/1.1, HTTP/2 or HTTP/3. */
export type HttpProtocol = "h1" | "h2" | "h3";

/** The state of one client connection, read by the app when a response fails to complete. */
export interface ConnectionState {
  /** Set by the edge just before it closes the connection itself. */
  closedBy: ConnectionCloseReason | null;
  /** The HTTP version, once known (TLS: from ALPN; plain TCP: `h1`, see docs/routing.md). */
  protocol?: HttpProtocol;
}
