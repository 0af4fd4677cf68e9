/**
 * `sprox serve`: load, bind (the proxy's listeners, then the admin listener), tell systemd
 * it is ready, then reload on SIGHUP (or `POST /admin/reload`, the same path) and drain on
 * SIGTERM/SIGINT.
 * @module
 */
import { AdminListener } from "../admin/mod.ts";
import { ConfigError, formatIssue, loadConfig, resolveConfigPath } from "../config/mod.ts";
import { ProxyServer } from "../edge/mod.ts";
import { log } from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import type { LoadedConfig } from "../config/mod.ts";
import { applyTelemetry, logWarnings, Reloader } from "./reload.ts";
import { SystemdNotifier } from "./systemd.ts";

function statusLine(server: ProxyServer): string {
  return `serving ${server.addresses.size} listener(s), config ${server.plan.hash}`;
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

  let server: ProxyServer;
  try {
    server = await ProxyServer.start(loaded);
  } catch (error) {
    log("error", "cannot start listeners", { error: (error as Error).message });
    return 1;
  }
  const notifier = SystemdNotifier.fromEnvironment();
  const reloader: Reloader = new Reloader(path, server, async (next) => {
    try {
      await admin.apply(next.config.admin);
    } catch (error) {
      log("error", "cannot move the admin listener; it stays where it was", {
        error: (error as Error).message,
      });
    }
    await notifier?.status(statusLine(server));
  });
  const admin = new AdminListener({
    plan: () => server.plan,
    reload: () => reloader.reload("admin"),
  });
  try {
    await admin.apply(loaded.config.admin);
  } catch (error) {
    log("error", "cannot start the admin listener", { error: (error as Error).message });
    await server.shutdown(0);
    return 1;
  }
  log("info", "sprox started", {
    version: VERSION,
    config: loaded.file,
    hash: loaded.hash,
    pid: Deno.pid,
  });
  await notifier?.ready(statusLine(server));

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const onHup = () => void reloader.reload("SIGHUP");
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  Deno.addSignalListener("SIGHUP", onHup);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);

  const signal = await stopped;
  const grace = server.plan.config.server.shutdown_grace_ms;
  log("info", "shutting down", { signal, grace_ms: grace });
  Deno.removeSignalListener("SIGHUP", onHup);
  await notifier?.stopping();
  await Promise.all([server.shutdown(grace), admin.close()]);
  notifier?.close();
  log("info", "stopped");
  return 0;
}
