/**
 * The edge: one listening socket per distinct listen address, with sProx's own accept loop
 * (connection limits, timeouts, descriptor shedding: see `connections.ts`, `listener.ts`),
 * all answering from the current plan. A reload swaps the plan reference; in-flight
 * requests finish on the plan they started with, and listeners are added or removed as
 * the new configuration says.
 * @module
 */
import type { LoadedConfig } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import {
  configInfo,
  connectionsAccepted,
  connectionsByProtocol,
  connectionsClosedByServer,
  connectionsOpen,
  connectionsShed,
  log,
  requestsByProtocol,
  tlsHandshakes,
  tlsServerNames,
} from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import { watchCertificateFiles } from "./cert_watch.ts";
import type { Apps, EdgePlan, Handler, ListenerPlan, ServerState } from "./plan.ts";
import type { HttpProtocol } from "./connection.ts";
import { type ConnectionLimits, ConnectionTable, type TrackedConnection } from "./connections.ts";
import { FdBudget, isDescriptorExhaustion } from "./fd_budget.ts";
import { advertiseHttp3, type QuicServing, startQuic, stopQuic } from "./http3.ts";
import type { ListenerRecord } from "./record.ts";
import { CertificateSelector, type KeyPair } from "./sni.ts";
import {
  acceptLoop,
  assertAddressFree,
  type BindOptions,
  bindSocket,
  type HttpConnection,
  serveHttp,
} from "./listener.ts";

function tlsSignature(listener: ListenerPlan): string {
  return JSON.stringify([listener.tls, listener.http3]);
}

/** The files a TLS listener serves: the default pair and every per-hostname pair. */
function certificatePaths(listener: ListenerPlan): string[] {
  return [
    listener.tls.certificatePath!,
    listener.tls.privateKeyPath!,
    ...listener.tls.certificates.flatMap((c) => [c.certificatePath, c.privateKeyPath]),
  ];
}

/** How one isolate's server binds (see `workers/`). */
export interface ServerOptions {
  /**
   * HTTP/3 on the listeners that ask for it: `serve` (default) binds the UDP socket;
   * `advertise` only sends `Alt-Svc` for it, because another isolate of this process serves
   * it on the same port (a UDP port cannot be shared the way a TCP port is).
   */
  readonly http3?: "serve" | "advertise";
  /**
   * Ports another isolate of this process already holds, by listener key: this server binds
   * beside it (`SO_REUSEPORT`) on the same port instead of checking the address is free.
   */
  readonly ports?: ReadonlyMap<string, number>;
}

/** A reload whose new listeners are bound, waiting to be committed or abandoned. */
export interface PreparedReload {
  /** The port of every listener of the new plan, by key. */
  readonly ports: ReadonlyMap<string, number>;
  /** Swaps the new plan in (after every isolate prepared). */
  commit(): Promise<void>;
  /** Closes what the preparation bound and drops the new plan; the current one stays. */
  abort(): Promise<void>;
}

function connectionLimits(plan: EdgePlan): ConnectionLimits {
  const limits = plan.config.server.limits;
  return {
    maxConnections: limits.max_connections,
    maxConnectionsPerIp: limits.max_connections_per_ip,
    headerTimeoutMs: limits.header_timeout_ms,
    idleTimeoutMs: limits.idle_timeout_ms,
  };
}

/** What a socket of a listener binds with: address, TLS material, certificate selector. */
interface SocketMaterial {
  readonly options: BindOptions;
  readonly selector?: CertificateSelector;
}

async function readPair(certificatePath: string, privateKeyPath: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(certificatePath),
    Deno.readTextFile(privateKeyPath),
  ]);
  return { cert, key };
}

/**
 * Reads the TLS material of a listener (or none) into bind options. With per-hostname
 * certificates, a fresh selector resolves them (`onNameLimit`: too many distinct names).
 */
async function socketMaterial(
  listener: ListenerPlan,
  port: number,
  onNameLimit: () => void,
): Promise<SocketMaterial> {
  const base = { hostname: listener.host, port };
  if (!listener.tls.enabled) return { options: base };
  const pair = await readPair(listener.tls.certificatePath!, listener.tls.privateKeyPath!);
  if (listener.tls.certificates.length === 0) return { options: { ...base, tls: pair } };
  const named = await Promise.all(listener.tls.certificates.map(async (c) => ({
    serverNames: c.serverNames,
    pair: await readPair(c.certificatePath, c.privateKeyPath),
  })));
  // A pair the runtime would refuse must fail here (and keep the previous socket), not in
  // the first handshake that asks for it.
  for (const n of named) checkKeyPair(n.pair);
  const selector = new CertificateSelector(pair, named, {
    onLimit: onNameLimit,
    onNewName: (distinct) => tlsServerNames.labels(listener.key).set(distinct),
  });
  const resolve = (serverName: string) => selector.resolve(serverName);
  return { options: { ...base, tls: { ...pair, resolve } }, selector };
}

/** Throws when the runtime cannot load a certificate/key pair. */
function checkKeyPair(pair: KeyPair): void {
  // A throwaway socket is the runtime's own parser: it fails as a handshake would.
  const probe = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...pair });
  probe.close();
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
async function prepareAcmeCache(plan: EdgePlan): Promise<void> {
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
export class ProxyServer<P extends EdgePlan = EdgePlan> {
  #plan: P;
  #apps: Apps<P>;
  #http3: "serve" | "advertise";
  #records = new Map<string, ListenerRecord>();
  #reloading: Promise<unknown> = Promise.resolve();
  #fds: FdBudget;
  #warnings = new ThrottledWarning(5000);
  #state: { draining: boolean } = { draining: false };
  #requestsStarted = 0;

  private constructor(plan: P, apps: Apps<P>, options: ServerOptions) {
    this.#plan = plan;
    this.#apps = apps;
    this.#http3 = options.http3 ?? "serve";
    this.#fds = new FdBudget(plan.config.server.limits.fd_reserve);
  }

  /**
   * Compiles `loaded` with `apps`, binds every listener, and returns the running server.
   *
   * @example
   * ```ts
   * const server = await ProxyServer.start(await loadConfig("config"), proxyApps);
   * ```
   */
  static async start<P extends EdgePlan>(
    loaded: LoadedConfig,
    apps: Apps<P>,
    options: ServerOptions = {},
  ): Promise<ProxyServer<P>> {
    await apps.load?.(loaded);
    const server = new ProxyServer(apps.compile(loaded), apps, options);
    await prepareAcmeCache(server.#plan);
    try {
      for (const listener of server.#plan.listeners.values()) {
        const shared = options.ports?.get(listener.key);
        if (shared === undefined) assertAddressFree(listener.host, listener.port);
        await server.#bind(listener, server.#handler(server.#plan, listener), shared);
      }
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
    server.#plan.background.activate();
    server.#publishInfo();
    return server;
  }

  /** The plan new requests are served from. */
  /** Requests this isolate's listeners have started (every protocol), since it started. */
  get requestsStarted(): number {
    return this.#requestsStarted;
  }

  get plan(): P {
    return this.#plan;
  }

  /** The bound addresses, `host:port` → actual address (useful when port 0 was asked). */
  get addresses(): ReadonlyMap<string, Deno.NetAddr> {
    return new Map([...this.#records].map(([k, r]) => [k, r.socket.addr]));
  }

  /** What HTTP/3 listeners need of this server. */
  #quicServing: QuicServing = {
    limits: () => this.#plan.config.server.limits,
    handle: (record, tracked, request, info) => this.#onRequest(record, tracked, request, info),
  };

  #handler(plan: P, listener: ListenerPlan): Handler {
    return this.#apps.handler(plan, listener, this.#state as ServerState);
  }

  /** Whether this server serves HTTP/3 on `listener`. */
  #wantsQuic(listener: ListenerPlan): boolean {
    return this.#http3 === "serve" && listener.http3;
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
    const release = () => {
      record.table.remove(tracked);
      record.http.delete(tracked.id);
      this.#fds.closed();
      connectionsOpen.labels(key).dec();
    };
    if (!record.listener.tls.enabled) {
      connectionsByProtocol.labels(key, "h1").inc();
      this.#serveConnection(record, tracked, connection, served, release);
      return;
    }
    // The handshake is done here rather than inside the HTTP engine so that it is counted
    // and the negotiated protocol is known (ALPN h2 or http/1.1).
    (connection as Deno.TlsConn).handshake().then(
      (info) => {
        tlsHandshakes.labels(key, "tcp", "ok").inc();
        const protocol: HttpProtocol = info.alpnProtocol === "h2" ? "h2" : "h1";
        tracked.state.protocol = protocol;
        connectionsByProtocol.labels(key, protocol).inc();
        if (tracked.state.closedBy !== null) {
          // Closed by the table (timeout, make room) during the handshake.
          release();
          return;
        }
        this.#serveConnection(record, tracked, connection, served, release);
      },
      () => {
        tlsHandshakes.labels(key, "tcp", "failed").inc();
        try {
          connection.close();
        } catch {
          // Already closed.
        }
        release();
      },
    );
  }

  /** Hands an admitted (and handshaken) connection to the runtime's HTTP engine. */
  #serveConnection(
    record: ListenerRecord,
    tracked: TrackedConnection,
    connection: Deno.Conn,
    served: { http?: HttpConnection },
    release: () => void,
  ): void {
    const key = record.listener.key;
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
    http.finished.then(release);
  }

  #onRequest(
    record: ListenerRecord,
    tracked: TrackedConnection,
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    this.#requestsStarted++;
    record.table.requestStarted(tracked);
    const ended = () => {
      record.table.requestEnded(tracked);
      // Draining: a connection closes once its last response is delivered.
      if (record.draining && tracked.inFlight === 0) tracked.close();
    };
    const limit = record.listener.maxConcurrentRequests;
    if (limit !== null && record.inFlight >= limit) {
      info.completed.then(ended, ended);
      return errorResponse(
        new ProxyError(503, "too_many_requests_in_flight", "listener is at capacity", {
          headers: { "retry-after": "1" },
        }),
      );
    }
    record.inFlight++;
    const served = () => {
      record.inFlight--;
      ended();
    };
    info.completed.then(served, served);
    const protocol = tracked.state.protocol ?? "h1";
    requestsByProtocol.labels(record.listener.key, protocol).inc();
    const response = record.handler(request, info, tracked.state);
    // HTTP/3 of this listener: served here, or by the first isolate on the same port.
    const h3Port = record.quic?.addr.port ??
      (this.#http3 === "advertise" && record.listener.http3 ? record.socket.addr.port : undefined);
    if (protocol === "h3" || h3Port === undefined) return response;
    return Promise.resolve(response).then((r) => advertiseHttp3(record, request, r, h3Port));
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

  async #bind(listener: ListenerPlan, handler: Handler, port = listener.port): Promise<void> {
    const ref: { record?: ListenerRecord } = {};
    const material = await socketMaterial(
      listener,
      port,
      () => ref.record && this.#onNameLimit(ref.record),
    );
    const socket = bindSocket(material.options);
    const key = listener.key;
    const record: ListenerRecord = ref.record = {
      listener,
      socket,
      selector: material.selector,
      handler,
      inFlight: 0,
      draining: false,
      http: new Map(),
      table: new ConnectionTable(connectionLimits(this.#plan), {
        closedByServer: (reason) => connectionsClosedByServer.labels(key, reason).inc(),
      }),
    };
    if (this.#wantsQuic(listener)) {
      try {
        startQuic(record, material.options, this.#quicServing);
      } catch (error) {
        closeSocket(socket);
        record.table.dispose();
        throw error;
      }
    }
    this.#records.set(key, record);
    this.#accept(record, socket);
    log("info", "listening", {
      listener: key,
      port: socket.addr.port,
      tls: listener.tls.enabled,
      http3: record.quic !== undefined,
      routes: listener.routeIds,
    });
    if (listener.tls.enabled && listener.tls.watchForChanges) {
      record.watch = await watchCertificateFiles(
        certificatePaths(listener),
        () => this.#rotate(record),
      );
    }
  }

  /** Too many distinct SNI names on the current socket: swap it to empty the runtime's cache. */
  #onNameLimit(record: ListenerRecord): void {
    log("warn", "TLS server name cache full; swapping the listening socket", {
      listener: record.listener.key,
      distinct_names: record.selector?.distinctNames,
    });
    void this.#rotate(record, "TLS server name cache reset");
  }

  /**
   * Applies new TLS material to a listener: a new socket (same port, `SO_REUSEPORT`) with
   * the new certificate starts accepting, then the old socket stops. Established
   * connections are not touched and finish on the certificate they negotiated.
   */
  #rotate(record: ListenerRecord, reason = "certificate reloaded"): Promise<void> {
    // One swap at a time: a second request waits for the first, then swaps again.
    const run = (record.rotating ?? Promise.resolve()).then(() => this.#swap(record, reason));
    record.rotating = run.catch(() => {});
    return run;
  }

  async #swap(record: ListenerRecord, reason: string): Promise<void> {
    if (this.#records.get(record.listener.key) !== record) return;
    const key = record.listener.key;
    let socket: Deno.Listener<Deno.Conn, Deno.NetAddr>;
    let material: SocketMaterial;
    try {
      material = await socketMaterial(
        record.listener,
        record.socket.addr.port,
        () => this.#onNameLimit(record),
      );
      socket = bindSocket(material.options);
      // HTTP/3 serves the default certificate (see h3/endpoint.ts).
      if (material.options.tls) {
        record.quic?.setCertificate(material.options.tls.cert, material.options.tls.key);
      }
    } catch (error) {
      log("error", "certificate reload failed; keeping the previous certificate", {
        listener: key,
        error: (error as Error).message,
      });
      return;
    }
    const previous = record.socket;
    record.socket = socket;
    record.selector = material.selector;
    tlsServerNames.labels(key).set(0);
    this.#accept(record, socket);
    closeSocket(previous);
    log("info", reason, { listener: key });
  }

  /**
   * Swaps in a new configuration. Throws (leaving the current plan in place) when a new
   * listener cannot be bound.
   */
  reload(loaded: LoadedConfig): Promise<void> {
    const run = this.#reloading.then(async () => {
      const prepared = await this.#prepare(loaded);
      await prepared.commit();
    });
    this.#reloading = run.catch(() => {});
    return run;
  }

  /**
   * The first half of a reload across isolates: compiles the new plan and binds its new
   * listeners (on `ports` when another isolate holds them), without swapping anything in.
   * Exactly one of `commit` and `abort` must follow; no other reload starts in between.
   */
  prepare(loaded: LoadedConfig, ports?: ReadonlyMap<string, number>): Promise<PreparedReload> {
    const run = this.#reloading.then(() => this.#prepare(loaded, ports));
    // The next reload waits for this one's commit or abort.
    const { promise: settled, resolve: settle } = Promise.withResolvers<void>();
    this.#reloading = run.then(() => settled, () => {});
    return run.then((prepared) => ({
      ports: prepared.ports,
      commit: () => prepared.commit().finally(settle),
      abort: () => prepared.abort().finally(settle),
    }));
  }

  async #prepare(
    loaded: LoadedConfig,
    ports?: ReadonlyMap<string, number>,
  ): Promise<PreparedReload> {
    await this.#apps.load?.(loaded);
    const next = this.#apps.compile(loaded, this.#plan);
    await prepareAcmeCache(next);
    const started: string[] = [];
    const heldPorts = new Set([...this.#records.values()].map((r) => r.socket.addr.port));
    const closeStarted = async () => {
      for (const key of started) {
        const record = this.#records.get(key)!;
        this.#records.delete(key);
        await this.#close(record, 0);
      }
    };
    try {
      // Bind new listeners first; on failure nothing else has changed.
      for (const listener of next.listeners.values()) {
        if (this.#records.has(listener.key)) continue;
        const shared = ports?.get(listener.key);
        // A port sProx already holds (a listener moving between host addresses, or one
        // another isolate bound) is shared through SO_REUSEPORT; any other must be free of
        // other processes.
        if (shared === undefined && !heldPorts.has(listener.port)) {
          assertAddressFree(listener.host, listener.port);
        }
        await this.#bind(listener, this.#handler(next, listener), shared);
        started.push(listener.key);
      }
    } catch (error) {
      await closeStarted();
      next.dispose();
      throw error;
    }
    const bound = new Map<string, number>();
    for (const key of next.listeners.keys()) {
      const record = this.#records.get(key);
      if (record) bound.set(key, record.socket.addr.port);
    }
    let done = false;
    return {
      ports: bound,
      commit: async () => {
        if (done) return;
        done = true;
        await this.#commit(next, started);
      },
      abort: async () => {
        if (done) return;
        done = true;
        await closeStarted();
        next.dispose();
      },
    };
  }

  async #commit(next: P, started: readonly string[]): Promise<void> {
    const previous = this.#plan;
    this.#plan = next;
    // The health of unchanged origins carried over at compile time; checks move to the new
    // plan, and so do the shared key write-backs.
    previous.background.deactivate();
    next.background.activate();
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
      record.handler = this.#handler(next, listener);
      if (tlsChanged) {
        record.watch?.stop();
        record.watch = undefined;
        if (listener.tls.enabled && listener.tls.watchForChanges) {
          record.watch = await watchCertificateFiles(
            certificatePaths(listener),
            () => this.#rotate(record),
          );
        }
        // HTTP/3 connections made under the old settings are asked to go (GOAWAY) and
        // reconnect (the UDP socket stays: QUIC cannot share a port with a second one);
        // established TCP connections keep the certificate they negotiated.
        const hadQuic = record.quic !== undefined;
        if (hadQuic && !this.#wantsQuic(listener)) {
          stopping.push(stopQuic(record, next.config.server.shutdown_grace_ms));
        } else if (hadQuic) {
          for (const connection of record.http.values()) connection.drain?.();
        }
        await this.#rotate(record, "listener TLS settings applied");
        if (!hadQuic && this.#wantsQuic(listener)) {
          try {
            startQuic(
              record,
              (await socketMaterial(listener, 0, () => {})).options,
              this.#quicServing,
            );
          } catch (error) {
            log("error", "cannot start HTTP/3 on the listener", {
              listener: key,
              error: (error as Error).message,
            });
          }
        }
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
    const quic = record.quic;
    quic?.stopAccepting();
    // The runtime's graceful per-connection shutdown cannot be followed by a forced close
    // (the close then fails inside the runtime and ends the process), so draining is done
    // here: idle connections close now, busy ones after their last response, and whatever
    // is left when the grace period ends is cut.
    record.draining = true;
    const open = [...record.http.values()];
    // HTTP/3 connections are told first (GOAWAY), then close like the others when idle.
    for (const connection of open) connection.drain?.();
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
    quic?.close();
    return cut;
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes. */
  async shutdown(graceMs: number): Promise<void> {
    this.#state.draining = true;
    this.#plan.background.deactivate();
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
