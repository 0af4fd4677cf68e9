/**
 * Structured JSON logging: one object per line on stdout. Only this module (and the CLI)
 * writes to the console.
 * @module
 */

/** Log severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: LogLevel = "info";
/** Configured secret values, as they appear inside a JSON string. */
let protectedValues: string[] = [];

/** Shortest value scrubbed by value: shorter ones would match ordinary text. */
const MIN_PROTECTED_LENGTH = 6;

/**
 * Registers secret values (API password, bearer token, key material) that must never
 * appear in a log line, whatever field carries them: the last line of defence behind
 * redaction by name. Values accumulate across reloads (a rotated secret stays protected).
 *
 * @example
 * ```ts
 * protectSecrets([config.auth.bearer_token]);
 * ```
 */
export function protectSecrets(values: readonly (string | null | undefined)[]): void {
  const next = new Set(protectedValues);
  for (const value of values) {
    if (value && value.length >= MIN_PROTECTED_LENGTH) next.add(JSON.stringify(value).slice(1, -1));
  }
  // Longest first, so a secret containing another is replaced whole.
  protectedValues = [...next].sort((a, b) => b.length - a.length);
}

function scrub(line: string): string {
  for (const value of protectedValues) {
    if (line.includes(value)) line = line.replaceAll(value, "[REDACTED]");
  }
  return line;
}

/** The isolate writing (`server.workers` > 1), on every line; `null` with one isolate. */
let worker: number | null = null;

/** Tags every line of this isolate with `"worker": index` (`null`: no tag). */
export function tagLogLines(index: number | null): void {
  worker = index;
}

/** Sets the minimum level written. */
export function configureLogging(options: { level: LogLevel }): void {
  threshold = options.level;
}

/**
 * The line for `fields`; when they cannot be serialised (a BigInt, a cycle, a throwing
 * getter), a line that says so, with the message alone.
 */
function serialise(level: LogLevel, msg: string, fields: Record<string, unknown>): string {
  const ts = new Date().toISOString();
  try {
    return JSON.stringify(
      worker === null ? { ts, level, msg, ...fields } : { ts, level, msg, worker, ...fields },
    );
  } catch (error) {
    let detail = "unserialisable fields";
    try {
      detail = `unserialisable fields: ${(error as Error).message}`;
    } catch {
      // Keep the generic detail.
    }
    return JSON.stringify({ ts, level, msg, log_error: detail });
  }
}

/**
 * Writes one JSON log line. Fields must already be redacted: callers never pass secrets.
 * Never throws: logging runs on paths (after a response, in timers) where a throw would
 * take the process down.
 *
 * @example
 * ```ts
 * log("info", "config reloaded", { routes: 3 });
 * ```
 */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = serialise(level, msg, fields);
  const written = protectedValues.length > 0 ? scrub(line) : line;
  pending.push(written);
  if (ORDER[level] >= ORDER.warn) rememberProblem(written);
  pendingChars += line.length;
  // Lines are written in batches (one write per ~20 ms or 64 KiB instead of one per
  // request); warnings and errors go out at once, with everything queued before them.
  if (ORDER[level] >= ORDER.warn || pendingChars >= FLUSH_CHARS) flushLogs();
  else if (flushTimer === undefined) {
    flushTimer = setTimeout(flushLogs, FLUSH_MS);
    (flushTimer as { unref?: () => void }).unref?.();
  }
}

/** How many warning and error lines {@linkcode recentProblems} keeps. */
export const RECENT_PROBLEMS = 100;
/** The last warning and error lines as written (already scrubbed), oldest first. */
const problems: string[] = [];

const PROBLEM_LINE = /^\{"ts":"[^"]*","level":"(?:warn|error)"/;

/**
 * Remembers the warning and error lines among `text`'s (lines another isolate wrote, see
 * {@linkcode sendLogsTo}), so that {@linkcode recentProblems} covers every isolate.
 */
export function rememberProblemLines(text: string): void {
  for (const line of text.split("\n")) {
    if (PROBLEM_LINE.test(line)) rememberProblem(line);
  }
}

function rememberProblem(line: string): void {
  problems.push(line);
  if (problems.length > RECENT_PROBLEMS) problems.shift();
}

/**
 * The last {@linkcode RECENT_PROBLEMS} warning and error lines, oldest first, parsed back
 * into their fields (what the admin console shows). Bounded: older lines are dropped.
 *
 * @example
 * ```ts
 * const lines = recentProblems(); // [{ ts, level: "warn", msg: "upstream request failed", … }]
 * ```
 */
export function recentProblems(): Record<string, unknown>[] {
  return problems.map((line) => JSON.parse(line) as Record<string, unknown>);
}

const FLUSH_MS = 20;
const FLUSH_CHARS = 64 * 1024;
const encoder = new TextEncoder();
let pending: string[] = [];
let pendingChars = 0;
let flushTimer: ReturnType<typeof setTimeout> | undefined;

/** Lines dropped because stdout could not be written (closed pipe, full disk). */
let droppedLines = 0;

/**
 * Writes every queued log line to stdout now. Called before the process exits. Never
 * throws: when stdout cannot be written (its reader went away) the lines are dropped, and
 * stderr says so once.
 *
 * @example
 * ```ts
 * flushLogs();
 * ```
 */
export function flushLogs(): void {
  if (flushTimer !== undefined) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
  if (pending.length === 0) return;
  const count = pending.length;
  const text = pending.join("\n") + "\n";
  pending = [];
  pendingChars = 0;
  if (logOutput) logOutput(text);
  else writeLogText(text, count);
}

let logOutput: ((text: string) => void) | null = null;

/**
 * Sends this isolate's log batches to `output` instead of stdout (a worker isolate hands
 * them to the first isolate, the process's one writer, so lines never interleave).
 */
export function sendLogsTo(output: ((text: string) => void) | null): void {
  logOutput = output;
}

/**
 * Writes whole log lines (`text` ends with a newline) to stdout; `count` lines, dropped
 * together if stdout cannot be written.
 */
export function writeLogText(text: string, count: number): void {
  const bytes = encoder.encode(text);
  try {
    let offset = 0;
    while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
  } catch (error) {
    if (droppedLines === 0) reportDropped(error);
    droppedLines += count;
  }
}

function reportDropped(error: unknown): void {
  try {
    const text = `sprox: log lines dropped, stdout cannot be written: ${String(error)}\n`;
    Deno.stderr.writeSync(encoder.encode(text));
  } catch {
    // Nowhere left to report to.
  }
}
