/**
 * What the server keeps of one listening address: its sockets, connections and handler.
 * @module
 */
import type { CertWatch } from "./cert_watch.ts";
import type { ConnectionTable } from "./connections.ts";
import type { QuicSocket } from "./h3/mod.ts";
import type { HttpConnection } from "./listener.ts";
import type { Handler, ListenerPlan } from "./plan.ts";
import type { CertificateSelector } from "./sni.ts";

/** One listening address while it serves. */
export interface ListenerRecord {
  listener: ListenerPlan;
  /** The socket accepting now (a certificate rotation replaces it). */
  socket: Deno.Listener<Deno.Conn, Deno.NetAddr>;
  /** The handler of the newest plan for this address. */
  handler: Handler;
  /** Requests in flight (for `max_concurrent_requests`). */
  inFlight: number;
  /** Set when the listener stops: connections close as soon as nothing is in flight. */
  draining: boolean;
  /** Open connections, across the sockets of certificate rotations. */
  table: ConnectionTable;
  /** HTTP of each open connection, by connection id. */
  http: Map<number, HttpConnection>;
  /** Certificate watch of a TLS listener with `watch_for_changes`. */
  watch?: CertWatch;
  /** The UDP socket serving HTTP/3 (`listen.http3`). */
  quic?: QuicSocket;
  /** The certificate selector of the current TCP socket (per-hostname certificates). */
  selector?: CertificateSelector;
  /** Set while a socket swap is under way (one at a time). */
  rotating?: Promise<void>;
}
