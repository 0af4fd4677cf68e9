/**
 * `sprox serve`: load, bind (the proxy's listeners, then the admin listener), tell systemd
 * it is ready, then reload on SIGHUP (or `POST /admin/reload`, the same path) and drain on
 * SIGTERM/SIGINT.
 * @module
 */
import { AdminListener } from "../admin/mod.ts";
import { ConfigError, formatIssue, loadConfig, resolveConfigPath } from "../config/mod.ts";
import { type Plan, proxyApps } from "../app/mod.ts";
import { bindMallocTrim, ProxyServer } from "../edge/mod.ts";
import { log, tagLogLines } from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import type { LoadedConfig } from "../config/mod.ts";
import { applyTelemetry, logWarnings, Reloader } from "./reload.ts";
import { SystemdNotifier } from "./systemd.ts";
import { Fleet, workerCount } from "./fleet.ts";
import { returnMemoryWhenQuiet } from "./memory.ts";

function statusLine(fleet: Fleet): string {
  const workers = fleet.workers().length + 1;
  return `serving ${fleet.server.addresses.size} listener(s) with ${workers} isolate(s), config ${fleet.plan.hash}`;
}

/** Runs the server until a termination signal; returns the process exit code. */
export async function runServe(configArg: string | undefined): Promise<number> {
  const path = resolveConfigPath(configArg);
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.issues.map(formatIssue).join("\n"));
    console.error("sprox: configuration is invalid; not starting");
    return 1;
  }
  applyTelemetry(loaded);
  logWarnings(loaded.warnings);
  // Before anything is served or any isolate starts: the FFI permission goes with it.
  const trim = bindMallocTrim();

  const workers = workerCount(loaded.config.server.workers);
  // With worker isolates, every line says which isolate wrote it (this one is 0).
  if (workers > 1) tagLogLines(0);
  let server: ProxyServer<Plan>;
  try {
    server = await ProxyServer.start(loaded, proxyApps);
  } catch (error) {
    log("error", "cannot start listeners", { error: (error as Error).message });
    return 1;
  }
  const fleet = new Fleet(server, trim);
  const stopMemoryReturn = returnMemoryWhenQuiet(() => server, () => fleet.plan.config, trim);
  try {
    await fleet.startWorkers(workers, loaded);
  } catch (error) {
    log("error", "cannot start worker isolates", { error: (error as Error).message });
    await fleet.shutdown(0);
    return 1;
  }
  const notifier = SystemdNotifier.fromEnvironment();
  const reloader: Reloader = new Reloader(path, fleet, async (next) => {
    if (workerCount(next.config.server.workers) !== workers) {
      log("warn", "server.workers changes at the next start", {
        running: workers,
        configured: next.config.server.workers,
      });
    }
    try {
      await admin.apply(next.config.admin);
    } catch (error) {
      log("error", "cannot move the admin listener; it stays where it was", {
        error: (error as Error).message,
      });
    }
    await notifier?.status(statusLine(fleet));
  });
  const admin = new AdminListener({
    plan: () => fleet.plan,
    workers: () => fleet.workers(),
    reload: () => reloader.reload("admin"),
  });
  try {
    await admin.apply(loaded.config.admin);
  } catch (error) {
    log("error", "cannot start the admin listener", { error: (error as Error).message });
    await fleet.shutdown(0);
    return 1;
  }
  log("info", "sprox started", {
    version: VERSION,
    config: loaded.file,
    hash: loaded.hash,
    pid: Deno.pid,
    workers,
  });
  await notifier?.ready(statusLine(fleet));

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const onHup = () => void reloader.reload("SIGHUP");
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  Deno.addSignalListener("SIGHUP", onHup);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);

  const signal = await stopped;
  const grace = fleet.plan.config.server.shutdown_grace_ms;
  log("info", "shutting down", { signal, grace_ms: grace });
  Deno.removeSignalListener("SIGHUP", onHup);
  stopMemoryReturn();
  await notifier?.stopping();
  await Promise.all([fleet.shutdown(grace), admin.close()]);
  notifier?.close();
  log("info", "stopped");
  return 0;
}
