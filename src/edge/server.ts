/**
 * The edge: one listening socket per distinct listen address, with sProx's own accept loop
 * (connection limits, timeouts, descriptor shedding: see `connections.ts`, `listener.ts`),
 * all answering from the current plan. A reload swaps the plan reference; in-flight
 * requests finish on the plan they started with, and listeners are added or removed as
 * the new configuration says.
 * @module
 */
import { buildApp, compilePlan, type ListenerPlan, type Plan } from "../app/mod.ts";
import type { LoadedConfig } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import {
  configInfo,
  connectionsAccepted,
  connectionsClosedByServer,
  connectionsOpen,
  connectionsShed,
  log,
} from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import { type CertWatch, watchCertificateFiles } from "./cert_watch.ts";
import type { ConnectionState } from "./connection.ts";
import { type ConnectionLimits, ConnectionTable, type TrackedConnection } from "./connections.ts";
import { FdBudget, isDescriptorExhaustion } from "./fd_budget.ts";
import { ensureRequestMigration } from "./request_migration.ts";
import {
  acceptLoop,
  assertAddressFree,
  type BindOptions,
  bindSocket,
  type HttpConnection,
  serveHttp,
} from "./listener.ts";

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  connection: ConnectionState,
) => Response | Promise<Response>;

interface ListenerRecord {
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
}

function tlsSignature(listener: ListenerPlan): string {
  return JSON.stringify(listener.tls);
}

function makeHandler(plan: Plan, listener: ListenerPlan): Handler {
  const app = buildApp(plan, listener);
  const protocol = listener.tls.enabled ? "https" : "http";
  return (request, info, connection) => app.fetch(request, { info, protocol, connection });
}

function connectionLimits(plan: Plan): ConnectionLimits {
  const limits = plan.config.server.limits;
  return {
    maxConnections: limits.max_connections,
    maxConnectionsPerIp: limits.max_connections_per_ip,
    headerTimeoutMs: limits.header_timeout_ms,
    idleTimeoutMs: limits.idle_timeout_ms,
  };
}

/** Reads the TLS material of a listener (or none) into bind options. */
async function bindOptions(listener: ListenerPlan, port = listener.port): Promise<BindOptions> {
  const base = { hostname: listener.host, port };
  if (!listener.tls.enabled) return base;
  const [cert, key] = await Promise.all([
    Deno.readTextFile(listener.tls.certificatePath!),
    Deno.readTextFile(listener.tls.privateKeyPath!),
  ]);
  return { ...base, tls: { cert, key } };
}

/** At most one log line per listener and event kind per interval, with the count. */
class ThrottledWarning {
  #last = new Map<string, { at: number; suppressed: number }>();
  constructor(readonly intervalMs: number) {}
  warn(key: string, message: string, fields: Record<string, unknown>): void {
    const now = performance.now();
    const entry = this.#last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    log("warn", message, { ...fields, suppressed_since_last: entry?.suppressed ?? 0 });
  }
}

/** Creates the ACME cache directory (mode 0700) of listeners that enable ACME. */
async function prepareAcmeCache(plan: Plan): Promise<void> {
  for (const route of plan.config.routes) {
    const acme = route.listen.tls.acme;
    if (!route.listen.tls.enabled || !acme.enabled) continue;
    try {
      await Deno.mkdir(acme.cache_path, { recursive: true, mode: 0o700 });
      await Deno.chmod(acme.cache_path, 0o700);
    } catch (error) {
      log("error", "cannot prepare the ACME cache directory", {
        route: route.id,
        path: acme.cache_path,
        error: (error as Error).message,
      });
    }
  }
}

/** The running proxy: its listeners and its current plan. */
export class ProxyServer {
  #plan: Plan;
  #records = new Map<string, ListenerRecord>();
  #reloading: Promise<unknown> = Promise.resolve();
  #fds: FdBudget;
  #warnings = new ThrottledWarning(5000);
  #migrationChecked = false;

  private constructor(plan: Plan) {
    this.#plan = plan;
    this.#fds = new FdBudget(plan.config.server.limits.fd_reserve);
  }

  /** Compiles `loaded`, binds every listener, and returns the running server. */
  static async start(loaded: LoadedConfig): Promise<ProxyServer> {
    const server = new ProxyServer(compilePlan(loaded));
    await prepareAcmeCache(server.#plan);
    server.#checkRequestMigration();
    try {
      for (const listener of server.#plan.listeners.values()) {
        assertAddressFree(listener.host, listener.port);
        await server.#bind(listener, makeHandler(server.#plan, listener));
      }
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
    server.#publishInfo();
    return server;
  }

  /** The plan new requests are served from. */
  get plan(): Plan {
    return this.#plan;
  }

  /** The bound addresses, `host:port` → actual address (useful when port 0 was asked). */
  get addresses(): ReadonlyMap<string, Deno.NetAddr> {
    return new Map([...this.#records].map(([k, r]) => [k, r.socket.addr]));
  }

  /** Once any listener may swap sockets (a watched certificate), make the swap lossless. */
  #checkRequestMigration(): void {
    if (this.#migrationChecked) return;
    const rotates = [...this.#plan.listeners.values()].some((l) =>
      l.tls.enabled && l.tls.watchForChanges
    );
    if (!rotates) return;
    this.#migrationChecked = true;
    ensureRequestMigration();
  }

  #publishInfo(): void {
    configInfo.reset();
    configInfo.labels(this.#plan.hash, VERSION).set(1);
  }

  /** Admits, serves and tracks one accepted connection of `record`. */
  #onConnection(record: ListenerRecord, connection: Deno.Conn): void {
    const key = record.listener.key;
    const peer = (connection.remoteAddr as Deno.NetAddr).hostname;
    const served: { http?: HttpConnection } = {};
    const admission = record.table.admit(
      peer,
      () => served.http ? served.http.abort() : connection.close(),
      { fdPressure: this.#fds.underPressure() },
    );
    if (!admission.admitted) {
      connection.close();
      connectionsShed.labels(key, admission.reason).inc();
      this.#warnings.warn(`${key}:${admission.reason}`, "connection limit reached; shedding", {
        listener: key,
        reason: admission.reason,
        peer,
        open_connections: this.#fds.open,
        learned_fd_ceiling: this.#fds.ceiling,
      });
      return;
    }
    const tracked = admission.connection;
    this.#fds.opened();
    connectionsAccepted.labels(key).inc();
    connectionsOpen.labels(key).inc();
    const http = served.http = serveHttp(
      connection,
      (request, info) => this.#onRequest(record, tracked, request, info),
      (error) => {
        // A handler that throws, or a response body that fails mid-way (the request's own
        // log line tells that story): not an error of the edge.
        log("debug", "response failed", { listener: key, error: String(error) });
        return errorResponse(new ProxyError(500, "internal", "internal error"));
      },
    );
    record.http.set(tracked.id, http);
    http.finished.then(() => {
      record.table.remove(tracked);
      record.http.delete(tracked.id);
      this.#fds.closed();
      connectionsOpen.labels(key).dec();
    });
  }

  #onRequest(
    record: ListenerRecord,
    tracked: TrackedConnection,
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    record.table.requestStarted(tracked);
    const ended = () => {
      record.table.requestEnded(tracked);
      // Draining: a connection closes once its last response is delivered.
      if (record.draining && tracked.inFlight === 0) tracked.close();
    };
    info.completed.then(ended, ended);
    const limit = record.listener.maxConcurrentRequests;
    if (limit !== null && record.inFlight >= limit) {
      return errorResponse(
        new ProxyError(503, "too_many_requests_in_flight", "listener is at capacity", {
          headers: { "retry-after": "1" },
        }),
      );
    }
    record.inFlight++;
    info.completed.finally(() => record.inFlight--).catch(() => {});
    return record.handler(request, info, tracked.state);
  }

  /** Closes up to `count` quiet connections across listeners, largest tables first. */
  #reclaim(count: number): void {
    const tables = [...this.#records.values()].map((r) => r.table).sort((a, b) => b.size - a.size);
    let left = count;
    for (const table of tables) {
      if (left <= 0) break;
      left -= table.reclaim(left);
    }
  }

  /** Starts accepting on `socket` for `record`. */
  #accept(record: ListenerRecord, socket: Deno.Listener<Deno.Conn, Deno.NetAddr>): void {
    const key = record.listener.key;
    void acceptLoop(socket, {
      accepted: (connection) => this.#onConnection(record, connection),
      acceptFailed: (error) => {
        if (isDescriptorExhaustion(error)) {
          this.#fds.exhausted();
          // Free descriptors now: the oldest quiet connections give way.
          this.#reclaim(Math.max(8, Math.floor(this.#plan.config.server.limits.fd_reserve / 4)));
        }
        connectionsShed.labels(key, "accept_error").inc();
        this.#warnings.warn(`${key}:accept`, "accept failed; pausing briefly", {
          listener: key,
          error: (error as Error).message ?? String(error),
        });
      },
    });
  }

  async #bind(listener: ListenerPlan, handler: Handler): Promise<void> {
    const socket = bindSocket(await bindOptions(listener));
    const key = listener.key;
    const record: ListenerRecord = {
      listener,
      socket,
      handler,
      inFlight: 0,
      draining: false,
      http: new Map(),
      table: new ConnectionTable(connectionLimits(this.#plan), {
        closedByServer: (reason) => connectionsClosedByServer.labels(key, reason).inc(),
      }),
    };
    this.#records.set(key, record);
    this.#accept(record, socket);
    log("info", "listening", {
      listener: key,
      port: socket.addr.port,
      tls: listener.tls.enabled,
      routes: listener.routeIds,
    });
    if (listener.tls.enabled && listener.tls.watchForChanges) {
      const paths = [listener.tls.certificatePath!, listener.tls.privateKeyPath!];
      record.watch = await watchCertificateFiles(paths, () => this.#rotate(record));
    }
  }

  /**
   * Applies new TLS material to a listener: a new socket (same port, `SO_REUSEPORT`) with
   * the new certificate starts accepting, then the old socket stops. Established
   * connections are not touched and finish on the certificate they negotiated.
   */
  async #rotate(record: ListenerRecord, reason = "certificate reloaded"): Promise<void> {
    if (this.#records.get(record.listener.key) !== record) return;
    const key = record.listener.key;
    let socket: Deno.Listener<Deno.Conn, Deno.NetAddr>;
    try {
      socket = bindSocket(await bindOptions(record.listener, record.socket.addr.port));
    } catch (error) {
      log("error", "certificate reload failed; keeping the previous certificate", {
        listener: key,
        error: (error as Error).message,
      });
      return;
    }
    const previous = record.socket;
    record.socket = socket;
    this.#accept(record, socket);
    closeSocket(previous);
    log("info", reason, { listener: key });
  }

  /**
   * Swaps in a new configuration. Throws (leaving the current plan in place) when a new
   * listener cannot be bound.
   */
  reload(loaded: LoadedConfig): Promise<void> {
    const run = this.#reloading.then(() => this.#reload(loaded));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(loaded: LoadedConfig): Promise<void> {
    const next = compilePlan(loaded, this.#plan);
    await prepareAcmeCache(next);
    const started: string[] = [];
    const heldPorts = new Set([...this.#records.values()].map((r) => r.socket.addr.port));
    try {
      // Bind new listeners first; on failure nothing else has changed.
      for (const listener of next.listeners.values()) {
        if (this.#records.has(listener.key)) continue;
        // A port sProx already holds (a listener moving between host addresses) is shared
        // through SO_REUSEPORT; any other must be free of other processes.
        if (!heldPorts.has(listener.port)) assertAddressFree(listener.host, listener.port);
        await this.#bind(listener, makeHandler(next, listener));
        started.push(listener.key);
      }
    } catch (error) {
      for (const key of started) {
        const record = this.#records.get(key)!;
        this.#records.delete(key);
        await this.#close(record, 0);
      }
      next.dispose();
      throw error;
    }
    const previous = this.#plan;
    this.#plan = next;
    this.#checkRequestMigration();
    this.#fds.setReserve(next.config.server.limits.fd_reserve);
    const stopping: Promise<void>[] = [];
    for (const [key, record] of [...this.#records]) {
      const listener = next.listeners.get(key);
      if (!listener) {
        this.#records.delete(key);
        stopping.push(
          this.#close(record, next.config.server.shutdown_grace_ms).then(() =>
            log("info", "listener closed", { listener: key })
          ),
        );
        continue;
      }
      record.table.setLimits(connectionLimits(next));
      if (started.includes(key)) continue;
      const tlsChanged = tlsSignature(record.listener) !== tlsSignature(listener);
      record.listener = listener;
      record.handler = makeHandler(next, listener);
      if (tlsChanged) {
        record.watch?.stop();
        record.watch = undefined;
        if (listener.tls.enabled && listener.tls.watchForChanges) {
          const paths = [listener.tls.certificatePath!, listener.tls.privateKeyPath!];
          record.watch = await watchCertificateFiles(paths, () => this.#rotate(record));
        }
        await this.#rotate(record, "listener TLS settings applied");
      }
    }
    this.#publishInfo();
    // The previous plan stays usable until its in-flight requests end; dispose it then.
    Promise.all(stopping).finally(() => setTimeout(() => previous.dispose(), 60_000)).catch(
      () => {},
    );
  }

  /**
   * Stops a listener: no new connections; open ones finish their requests for up to
   * `graceMs`, then are closed (requests cut then are logged with outcome `shutdown`).
   */
  async #close(record: ListenerRecord, graceMs: number): Promise<number> {
    record.watch?.stop();
    closeSocket(record.socket);
    // The runtime's graceful per-connection shutdown cannot be followed by a forced close
    // (the close then fails inside the runtime and ends the process), so draining is done
    // here: idle connections close now, busy ones after their last response, and whatever
    // is left when the grace period ends is cut.
    record.draining = true;
    const open = [...record.http.values()];
    for (const connection of record.table.connections()) {
      if (connection.inFlight === 0) connection.close();
    }
    const drained = Promise.all(open.map((http) => http.finished));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const result = await Promise.race([drained.then(() => "drained" as const), timeout]);
    clearTimeout(timer);
    let cut = 0;
    if (result === "timeout") {
      for (const connection of record.table.connections()) {
        connection.state.closedBy = "shutdown";
        connectionsClosedByServer.labels(record.listener.key, "shutdown").inc();
        cut++;
        connection.close();
      }
      // Let the cut requests settle so that their log lines are written.
      const settle = new Promise((resolve) => setTimeout(resolve, 500));
      await Promise.race([drained, settle]);
    }
    record.table.dispose();
    return cut;
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes. */
  async shutdown(graceMs: number): Promise<void> {
    const records = [...this.#records.values()];
    this.#records.clear();
    const cut = await Promise.all(records.map((r) => this.#close(r, graceMs)));
    const total = cut.reduce((a, b) => a + b, 0);
    if (total > 0) {
      log("warn", "shutdown grace period elapsed; closed remaining connections", {
        grace_ms: graceMs,
        connections: total,
      });
    }
    this.#plan.dispose();
  }
}

function closeSocket(socket: Deno.Listener): void {
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}
