/**
 * The admin listener: its own `Deno.serve` on `admin.listen` (127.0.0.1:9901 by default),
 * never shared with the public listeners or their app. It follows the `admin` block across
 * reloads: started, moved or stopped as the new configuration says.
 * @module
 */
import type { AdminConfig } from "../config/mod.ts";
import { log } from "../telemetry/mod.ts";
import { type AdminDependencies, buildAdminApp } from "./app.ts";

/** The admin API's listener. */
export class AdminListener {
  #deps: AdminDependencies;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #bound: string | undefined;

  /**
   * @example
   * ```ts
   * const admin = new AdminListener({ plan: () => server.plan, reload });
   * await admin.apply(server.plan.config.admin);
   * ```
   */
  constructor(deps: AdminDependencies) {
    this.#deps = deps;
  }

  /** The bound address, while listening. */
  get addr(): Deno.NetAddr | undefined {
    return this.#server?.addr;
  }

  /**
   * Makes the listener match `config`: bound when enabled (moved when the address changed),
   * closed when disabled. Throws when the address cannot be bound.
   */
  async apply(config: AdminConfig): Promise<void> {
    const key = config.enabled ? `${config.listen.host}:${config.listen.port}` : undefined;
    if (key === this.#bound) return;
    if (key !== undefined) {
      const app = buildAdminApp(this.#deps);
      const ready = Promise.withResolvers<void>();
      const server = Deno.serve({
        hostname: config.listen.host,
        port: config.listen.port,
        onListen: () => ready.resolve(),
        onError: () => new Response(null, { status: 500 }),
      }, app.fetch);
      await ready.promise;
      // Not awaited: the request that asked for this reload is in flight on the old
      // listener, which finishes it before closing.
      void this.close();
      this.#server = server;
      this.#bound = key;
      log("info", "admin API listening", { listener: key, port: server.addr.port });
    } else {
      void this.close();
      log("info", "admin API closed");
    }
  }

  /** Stops listening; requests in flight finish first. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#bound = undefined;
    await server?.shutdown();
  }
}
