/**
 * The life of a worker isolate: it starts its own server on the ports the first isolate
 * holds (`SO_REUSEPORT`: the kernel spreads new connections across the isolates), prepares
 * and commits reloads when told, and drains on shutdown. HTTP/3 stays with the first
 * isolate: a UDP port cannot be shared the same way.
 * @module
 */
import type { LoadedConfig } from "../../config/mod.ts";
import { flushLogs } from "../../telemetry/mod.ts";
import type { Apps, EdgePlan } from "../plan.ts";
import { type PreparedReload, ProxyServer } from "../server.ts";
import { Channel, type MessageEnd } from "./channel.ts";

/** What the command line adds around a worker's server. */
export interface IsolateHooks<P extends EdgePlan> {
  /** Before the server starts: route logs, metrics and buckets through `channel`. */
  setup(channel: Channel, index: number): void;
  /** After a plan is swapped in (at start and after every committed reload). */
  applied(loaded: LoadedConfig, server: ProxyServer<P>): void;
}

interface StartRequest {
  readonly index: number;
  readonly loaded: LoadedConfig;
  readonly ports: ReadonlyMap<string, number>;
}

interface PrepareRequest {
  readonly loaded: LoadedConfig;
  readonly ports: ReadonlyMap<string, number>;
}

/**
 * Serves this worker isolate until the first isolate ends it. Call once, from the worker
 * module.
 *
 * @example
 * ```ts
 * runWorkerIsolate(proxyApps, { setup() {}, applied() {} });
 * ```
 */
export function runWorkerIsolate<P extends EdgePlan>(apps: Apps<P>, hooks: IsolateHooks<P>): void {
  const channel = new Channel(self as unknown as MessageEnd);
  let server: ProxyServer<P> | undefined;
  let pending: { loaded: LoadedConfig; reload: PreparedReload } | undefined;
  const running = () => {
    if (!server) throw new Error("not started");
    return server;
  };
  channel.handle("start", async (payload) => {
    const { index, loaded, ports } = payload as StartRequest;
    hooks.setup(channel, index);
    server = await ProxyServer.start(loaded, apps, { http3: "advertise", ports });
    hooks.applied(loaded, server);
    // Its lines reach the first isolate before the answer does ("listening" before "started").
    flushLogs();
    return { hash: server.plan.hash };
  });
  channel.handle("prepare", async (payload) => {
    const { loaded, ports } = payload as PrepareRequest;
    pending = { loaded, reload: await running().prepare(loaded, ports) };
    return true;
  });
  channel.handle("commit", async () => {
    if (!pending) throw new Error("nothing prepared");
    const { loaded, reload } = pending;
    pending = undefined;
    await reload.commit();
    hooks.applied(loaded, running());
    flushLogs();
    return running().plan.hash;
  });
  channel.handle("abort", async () => {
    const prepared = pending;
    pending = undefined;
    await prepared?.reload.abort();
    return true;
  });
  channel.handle("shutdown", async (payload) => {
    const { graceMs } = payload as { graceMs: number };
    await server?.shutdown(graceMs);
    flushLogs();
    return true;
  });
}
