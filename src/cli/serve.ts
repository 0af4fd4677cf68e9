/**
 * `sprox serve`: load, bind, then reload on SIGHUP and drain on SIGTERM/SIGINT.
 * @module
 */
import { ConfigError, formatIssue, loadConfig, resolveConfigPath } from "../config/mod.ts";
import { ProxyServer } from "../edge/mod.ts";
import { configuredSecretValues } from "../secrets/mod.ts";
import { configReloads, configureLogging, log, protectSecrets } from "../telemetry/mod.ts";
import { VERSION } from "../version.ts";
import type { ConfigIssue, LoadedConfig } from "../config/mod.ts";

function logWarnings(warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) {
    log("warn", "config warning", { file: w.file, line: w.line, path: w.path, detail: w.message });
  }
}

function applyTelemetry(loaded: LoadedConfig): void {
  protectSecrets(configuredSecretValues(loaded.config));
  configureLogging({ level: loaded.config.telemetry.log_level });
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
  log("info", "sprox started", {
    version: VERSION,
    config: loaded.file,
    hash: loaded.hash,
    pid: Deno.pid,
  });

  const reload = async () => {
    log("info", "reload requested (SIGHUP)", { config: path });
    try {
      const next = await loadConfig(path);
      protectSecrets(configuredSecretValues(next.config));
      await server.reload(next);
      applyTelemetry(next);
      logWarnings(next.warnings);
      configReloads.labels("success").inc();
      log("info", "config reloaded", { config: next.file, hash: next.hash });
    } catch (error) {
      configReloads.labels("failure").inc();
      if (error instanceof ConfigError) {
        for (const issue of error.issues.filter((i) => i.severity === "error")) {
          log("error", "reload rejected: config error", { detail: formatIssue(issue) });
        }
      } else {
        log("error", "reload rejected", { error: (error as Error).message });
      }
      log("warn", "keeping the previous configuration", { hash: server.plan.hash });
    }
  };

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const onHup = () => void reload();
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  Deno.addSignalListener("SIGHUP", onHup);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);

  const signal = await stopped;
  const grace = server.plan.config.server.shutdown_grace_ms;
  log("info", "shutting down", { signal, grace_ms: grace });
  Deno.removeSignalListener("SIGHUP", onHup);
  await server.shutdown(grace);
  log("info", "stopped");
  return 0;
}
