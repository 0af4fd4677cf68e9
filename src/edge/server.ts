/**
 * The edge: one `Deno.serve` per distinct listen address, all answering from the current
 * plan. A reload swaps the plan reference; in-flight requests finish on the plan they
 * started with, and listeners are added or removed as the new configuration says.
 * @module
 */
import { buildApp, compilePlan, type ListenerPlan, type Plan } from "../app/mod.ts";
import type { LoadedConfig } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import { configInfo, log } from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import { type CertWatch, watchCertificateFiles } from "./cert_watch.ts";

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

interface ListenerRecord {
  listener: ListenerPlan;
  server: Deno.HttpServer<Deno.NetAddr>;
  /** The handler of the newest plan for this address. */
  handler: Handler;
  inFlight: number;
  /** Certificate watch of a TLS listener with `watch_for_changes`. */
  watch?: CertWatch;
}

function tlsSignature(listener: ListenerPlan): string {
  return JSON.stringify(listener.tls);
}

function makeHandler(plan: Plan, listener: ListenerPlan): Handler {
  const app = buildApp(plan, listener);
  const protocol = listener.tls.enabled ? "https" : "http";
  return (request, info) => app.fetch(request, { info, protocol, connection: { closedBy: null } });
}

/** Builds the `Deno.serve` options of a listener, reading TLS material when enabled. */
async function serveOptions(listener: ListenerPlan): Promise<
  Deno.ServeTcpOptions & Partial<Deno.TlsCertifiedKeyPem>
> {
  const base = { hostname: listener.host, port: listener.port };
  if (!listener.tls.enabled) return base;
  const [cert, key] = await Promise.all([
    Deno.readTextFile(listener.tls.certificatePath!),
    Deno.readTextFile(listener.tls.privateKeyPath!),
  ]);
  // A watched listener is rebound on certificate change next to the old server, which
  // needs SO_REUSEPORT on both (see cert_watch.ts).
  return { ...base, cert, key, reusePort: listener.tls.watchForChanges };
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

  private constructor(plan: Plan) {
    this.#plan = plan;
  }

  /** Compiles `loaded`, binds every listener, and returns the running server. */
  static async start(loaded: LoadedConfig): Promise<ProxyServer> {
    const server = new ProxyServer(compilePlan(loaded));
    await prepareAcmeCache(server.#plan);
    try {
      for (const listener of server.#plan.listeners.values()) {
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

  /** The bound addresses, `host:port` → actual port (useful when port 0 was asked). */
  get addresses(): ReadonlyMap<string, Deno.NetAddr> {
    return new Map([...this.#records].map(([k, r]) => [k, r.server.addr]));
  }

  #publishInfo(): void {
    configInfo.reset();
    configInfo.labels(this.#plan.hash, VERSION).set(1);
  }

  /** Starts one `Deno.serve` for a record; resolves once it listens. */
  async #serve(
    record: ListenerRecord,
    options: Deno.ServeTcpOptions & Partial<Deno.TlsCertifiedKeyPem>,
  ): Promise<Deno.HttpServer<Deno.NetAddr>> {
    const listener = record.listener;
    let resolveListen!: () => void;
    const listening = new Promise<void>((r) => (resolveListen = r));
    const server = Deno.serve({
      ...options,
      onListen: () => resolveListen(),
      onError: (error) => {
        log("error", "handler failed", { listener: listener.key, error: String(error) });
        return errorResponse(new ProxyError(500, "internal", "internal error"));
      },
    }, (request, info) => {
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
      return record.handler(request, info);
    });
    await listening;
    return server;
  }

  async #bind(listener: ListenerPlan, handler: Handler): Promise<void> {
    const options = await serveOptions(listener);
    const record = { listener, handler, inFlight: 0 } as ListenerRecord;
    record.server = await this.#serve(record, options);
    this.#records.set(listener.key, record);
    log("info", "listening", {
      listener: listener.key,
      port: record.server.addr.port,
      tls: listener.tls.enabled,
      routes: listener.routeIds,
    });
    if (listener.tls.enabled && listener.tls.watchForChanges) {
      const paths = [listener.tls.certificatePath!, listener.tls.privateKeyPath!];
      record.watch = await watchCertificateFiles(paths, () => this.#rotate(record));
    }
  }

  /** Applies changed certificate files: a new server beside the old, then the old drains. */
  async #rotate(record: ListenerRecord): Promise<void> {
    if (this.#records.get(record.listener.key) !== record) return;
    const key = record.listener.key;
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      const options = await serveOptions(record.listener);
      server = await this.#serve(record, { ...options, port: record.server.addr.port });
    } catch (error) {
      log("error", "certificate reload failed; keeping the previous certificate", {
        listener: key,
        error: (error as Error).message,
      });
      return;
    }
    const previous = record.server;
    record.server = server;
    log("info", "certificate reloaded", { listener: key });
    previous.shutdown().then(
      () => log("info", "previous certificate's connections drained", { listener: key }),
      () => {},
    );
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
    try {
      // Bind new (and TLS-changed) listeners first; on failure nothing else has changed.
      for (const listener of next.listeners.values()) {
        const existing = this.#records.get(listener.key);
        if (existing && tlsSignature(existing.listener) === tlsSignature(listener)) continue;
        if (existing) continue; // TLS changed: rebound below, after the swap.
        await this.#bind(listener, makeHandler(next, listener));
        started.push(listener.key);
      }
    } catch (error) {
      for (const key of started) {
        const record = this.#records.get(key)!;
        this.#records.delete(key);
        record.watch?.stop();
        await record.server.shutdown();
      }
      next.dispose();
      throw error;
    }
    const previous = this.#plan;
    this.#plan = next;
    const stopping: Promise<void>[] = [];
    for (const [key, record] of [...this.#records]) {
      const listener = next.listeners.get(key);
      if (!listener) {
        this.#records.delete(key);
        record.watch?.stop();
        stopping.push(
          record.server.shutdown().then(() => log("info", "listener closed", { listener: key })),
        );
        continue;
      }
      if (tlsSignature(record.listener) !== tlsSignature(listener)) {
        this.#records.delete(key);
        record.watch?.stop();
        await record.server.shutdown();
        await this.#bind(listener, makeHandler(next, listener));
        continue;
      }
      record.listener = listener;
      record.handler = makeHandler(next, listener);
    }
    this.#publishInfo();
    // The previous plan stays usable until its in-flight requests end; dispose it then.
    Promise.all(stopping).finally(() => setTimeout(() => previous.dispose(), 60_000)).catch(
      () => {},
    );
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes. */
  async shutdown(graceMs: number): Promise<void> {
    const records = [...this.#records.values()];
    this.#records.clear();
    for (const record of records) record.watch?.stop();
    const drained = Promise.all(records.map((r) => r.server.shutdown()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const result = await Promise.race([drained.then(() => "drained" as const), timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      log("warn", "shutdown grace period elapsed; closing remaining connections", {
        grace_ms: graceMs,
      });
    }
    this.#plan.dispose();
  }
}
