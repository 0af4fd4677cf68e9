/**
 * The one reload path: `SIGHUP` and `POST /admin/reload` both run {@linkcode Reloader.reload}
 * (re-read the file and the environment overrides, validate, build a new plan, swap it in),
 * one reload at a time. A failure keeps the previous configuration; the outcome says why.
 * @module
 */
import type { ReloadOutcome } from "../admin/mod.ts";
import { ConfigError, formatIssue, loadConfig } from "../config/mod.ts";
import type { ConfigIssue, LoadedConfig } from "../config/mod.ts";
import { configuredSecretValues } from "../secrets/mod.ts";
import { configReloads, configureLogging, log, protectSecrets } from "../telemetry/mod.ts";

/** Logs the warnings of a configuration, one line each. */
export function logWarnings(warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) {
    log("warn", "config warning", { file: w.file, line: w.line, path: w.path, detail: w.message });
  }
}

/** Applies the logging settings and the secret values the logger must scrub. */
export function applyTelemetry(loaded: LoadedConfig): void {
  protectSecrets(configuredSecretValues(loaded.config));
  configureLogging({ level: loaded.config.telemetry.log_level });
}

/** What a reload swaps the configuration of: every isolate of the process. */
export interface ReloadTarget {
  readonly plan: { readonly hash: string };
  reload(loaded: LoadedConfig): Promise<void>;
}

/** Reloads the configuration of a running server from its file. */
export class Reloader {
  #path: string;
  #server: ReloadTarget;
  #queue: Promise<unknown> = Promise.resolve();
  #applied: ((loaded: LoadedConfig) => Promise<void>) | undefined;

  /**
   * `applied` runs after a successful swap (the admin listener follows its block).
   *
   * @example
   * ```ts
   * const reloader = new Reloader("config/routes.yaml", server);
   * const outcome = await reloader.reload("SIGHUP");
   * ```
   */
  constructor(
    path: string,
    server: ReloadTarget,
    applied?: (loaded: LoadedConfig) => Promise<void>,
  ) {
    this.#path = path;
    this.#server = server;
    this.#applied = applied;
  }

  /** Runs one reload after any reload already under way; `trigger` names it in the logs. */
  reload(trigger: "SIGHUP" | "admin"): Promise<ReloadOutcome> {
    const run = this.#queue.then(() => this.#reload(trigger));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #reload(trigger: "SIGHUP" | "admin"): Promise<ReloadOutcome> {
    log("info", `reload requested (${trigger})`, { config: this.#path });
    try {
      const next = await loadConfig(this.#path);
      protectSecrets(configuredSecretValues(next.config));
      await this.#server.reload(next);
      applyTelemetry(next);
      logWarnings(next.warnings);
      configReloads.labels("success").inc();
      log("info", "config reloaded", { config: next.file, hash: next.hash });
      await this.#applied?.(next);
      return { ok: true, file: next.file, hash: next.hash, warnings: next.warnings };
    } catch (error) {
      configReloads.labels("failure").inc();
      let outcome: ReloadOutcome;
      if (error instanceof ConfigError) {
        const errors = error.issues.filter((i) => i.severity === "error");
        for (const issue of errors) {
          log("error", "reload rejected: config error", { detail: formatIssue(issue) });
        }
        outcome = { ok: false, kind: "config_invalid", issues: error.issues };
      } else {
        const message = (error as Error).message ?? String(error);
        log("error", "reload rejected", { error: message });
        outcome = { ok: false, kind: "reload_failed", message };
      }
      log("warn", "keeping the previous configuration", { hash: this.#server.plan.hash });
      return outcome;
    }
  }
}
