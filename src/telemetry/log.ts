/**
 * Structured JSON logging: one object per line on stdout. Only this module (and the CLI)
 * writes to the console.
 * @module
 */

/** Log severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: LogLevel = "info";

/** Sets the minimum level written. */
export function configureLogging(options: { level: LogLevel }): void {
  threshold = options.level;
}

/**
 * Writes one JSON log line. Fields must already be redacted: callers never pass secrets.
 *
 * @example
 * ```ts
 * log("info", "config reloaded", { routes: 3 });
 * ```
 */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields });
  console.log(line);
}
