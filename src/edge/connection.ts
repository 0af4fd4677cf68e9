/**
 * What the edge knows about the connection a request arrived on, shared with the app so
 * that a request whose connection the server closed (shutdown grace elapsed) is logged as
 * such rather than as a client abort.
 * @module
 */

/** Why the server closed a connection; `null` while it has not. */
export type ConnectionCloseReason =
  | "shutdown"
  | "header_timeout"
  | "idle_timeout"
  | "make_room";

/** The state of one client connection, read by the app when a response fails to complete. */
export interface ConnectionState {
  /** Set by the edge just before it closes the connection itself. */
  closedBy: ConnectionCloseReason | null;
}
