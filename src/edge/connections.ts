/**
 * The connections of one listener: counted per listener and per peer address, timed out
 * while they wait for a request head or sit idle, and closed to make room for new ones.
 *
 * `Deno.serve` accepts connections itself and exposes no connection count, header-read
 * timeout or idle timeout, so sProx accepts connections in its own loop (see
 * `listener.ts`) and hands each one to the runtime's HTTP engine. The engine calls the
 * request handler once a request head is complete; the table below only has to know when
 * a connection opened, how many requests it has in flight and when the last one ended:
 *
 * - a connection with no request in flight since it opened is *awaiting its head*: it is
 *   closed after `header_timeout_ms` (a slowloris never reaches the handler);
 * - a connection with no request in flight after a response is *idle*: closed after
 *   `idle_timeout_ms`;
 * - at `max_connections` (or `max_connections_per_ip`), the connection that has waited
 *   longest with nothing in flight gives way to the new one; when every connection has a
 *   request in flight, the new connection is shed.
 *
 * One sweep per interval checks every connection: cheaper than a timer per connection.
 * @module
 */
import type { ConnectionCloseReason, ConnectionState, HttpProtocol } from "./connection.ts";

/** The limits one listener enforces (from `server.limits`). */
export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** One open client connection. */
export interface TrackedConnection {
  readonly id: number;
  readonly peer: string;
  readonly state: ConnectionState;
  /** Requests handed to the handler and not yet completed. */
  inFlight: number;
  /** Whether a request has ever been handed to the handler. */
  served: boolean;
  /** When the connection last had nothing in flight (open time, or end of last response). */
  quietSince: number;
  /** Closes the connection at once (in-flight responses end). */
  readonly close: () => void;
}

/** Why a new connection was refused. */
export type ShedReason = "max_connections" | "max_connections_per_ip" | "fd_pressure";

/** What the table decided about a new connection. */
export type Admission =
  | { readonly admitted: true; readonly connection: TrackedConnection }
  | { readonly admitted: false; readonly reason: ShedReason };

/** Callbacks the table reports through (metrics and logs live with the caller). */
export interface ConnectionEvents {
  closedByServer(reason: ConnectionCloseReason, connection: TrackedConnection): void;
}

/** The open connections of one listener (shared by the sockets of a certificate rotation). */
export class ConnectionTable {
  #limits: ConnectionLimits;
  #events: ConnectionEvents;
  #nextId = 1;
  /** Insertion order is open order: the first quiet entry is the one that waited longest. */
  #open = new Map<number, TrackedConnection>();
  #perPeer = new Map<string, number>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #now: () => number;

  constructor(
    limits: ConnectionLimits,
    events: ConnectionEvents,
    options: { now?: () => number; sweepMs?: number } = {},
  ) {
    this.#limits = limits;
    this.#events = events;
    this.#now = options.now ?? (() => performance.now());
    const sweepMs = options.sweepMs ??
      Math.max(
        50,
        Math.min(1000, Math.floor(Math.min(limits.headerTimeoutMs, limits.idleTimeoutMs) / 4)),
      );
    if (sweepMs > 0) {
      this.#sweeper = setInterval(() => this.sweep(), sweepMs);
      Deno.unrefTimer(this.#sweeper);
    }
  }

  /** Open connections. */
  get size(): number {
    return this.#open.size;
  }

  /** Open connections of one peer. */
  countFor(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }

  /** Applies new limits (a reload); existing connections are judged by them from now on. */
  setLimits(limits: ConnectionLimits): void {
    this.#limits = limits;
  }

  /**
   * Admits a new connection from `peer`, making room by closing the longest-quiet
   * connection when a limit is reached, or refuses it.
   */
  admit(
    peer: string,
    close: () => void,
    options: { fdPressure?: boolean; protocol?: HttpProtocol } = {},
  ): Admission {
    const limits = this.#limits;
    // Near the descriptor limit a new connection must take an old one's place.
    if (options.fdPressure && !this.#makeRoom(null)) {
      return { admitted: false, reason: "fd_pressure" };
    }
    if (this.countFor(peer) >= limits.maxConnectionsPerIp && !this.#makeRoom(peer)) {
      return { admitted: false, reason: "max_connections_per_ip" };
    }
    if (this.#open.size >= limits.maxConnections && !this.#makeRoom(null)) {
      return { admitted: false, reason: "max_connections" };
    }
    const connection: TrackedConnection = {
      id: this.#nextId++,
      peer,
      state: { closedBy: null, protocol: options.protocol ?? "h1" },
      inFlight: 0,
      served: false,
      quietSince: this.#now(),
      close,
    };
    this.#open.set(connection.id, connection);
    this.#perPeer.set(peer, this.countFor(peer) + 1);
    return { admitted: true, connection };
  }

  /** A request of `connection` reached the handler. */
  requestStarted(connection: TrackedConnection): void {
    connection.inFlight++;
    connection.served = true;
  }

  /** A request of `connection` was delivered or failed. */
  requestEnded(connection: TrackedConnection): void {
    connection.inFlight = Math.max(0, connection.inFlight - 1);
    if (connection.inFlight === 0) connection.quietSince = this.#now();
  }

  /** The connection is gone (closed by either side). */
  remove(connection: TrackedConnection): void {
    if (!this.#open.delete(connection.id)) return;
    const left = this.countFor(connection.peer) - 1;
    if (left > 0) this.#perPeer.set(connection.peer, left);
    else this.#perPeer.delete(connection.peer);
  }

  /** Closes connections whose head or idle time ran out. */
  sweep(): void {
    const now = this.#now();
    const { headerTimeoutMs, idleTimeoutMs } = this.#limits;
    for (const connection of this.#open.values()) {
      if (connection.inFlight > 0) continue;
      const quiet = now - connection.quietSince;
      if (!connection.served && quiet >= headerTimeoutMs) {
        this.#closeByServer(connection, "header_timeout");
      } else if (connection.served && quiet >= idleTimeoutMs) {
        this.#closeByServer(connection, "idle_timeout");
      }
    }
  }

  /**
   * Closes up to `count` connections with nothing in flight (those still waiting for their
   * first head first): descriptors for new connections when the process has none left.
   */
  reclaim(count: number): number {
    let closed = 0;
    while (closed < count && this.#makeRoom(null)) closed++;
    return closed;
  }

  /** Every open connection (shutdown walks them). */
  connections(): TrackedConnection[] {
    return [...this.#open.values()];
  }

  /** Stops the sweep. */
  dispose(): void {
    clearInterval(this.#sweeper);
  }

  /**
   * Closes one connection with nothing in flight (of `peer` when given): the oldest one
   * still waiting for its first request head, else the oldest idle one. False when every
   * connection has a request in flight.
   */
  #makeRoom(peer: string | null): boolean {
    let idle: TrackedConnection | undefined;
    for (const connection of this.#open.values()) {
      if (connection.inFlight > 0) continue;
      if (peer !== null && connection.peer !== peer) continue;
      if (!connection.served) {
        this.#closeByServer(connection, "make_room");
        return true;
      }
      idle ??= connection;
    }
    if (!idle) return false;
    this.#closeByServer(idle, "make_room");
    return true;
  }

  #closeByServer(connection: TrackedConnection, reason: ConnectionCloseReason): void {
    connection.state.closedBy = reason;
    this.remove(connection);
    this.#events.closedByServer(reason, connection);
    try {
      connection.close();
    } catch {
      // Already closed by the peer.
    }
  }
}
