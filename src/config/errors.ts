/**
 * Configuration problems: one error class carrying every issue found, each with the
 * file, line, column, key path and what was expected.
 * @module
 */

/** Where a configuration value came from. */
export interface ConfigSource {
  /** The file path, or `env NAME` for an environment override. */
  readonly file: string;
  /** 1-based line, 0 when unknown (environment values). */
  readonly line: number;
  /** 1-based column, 0 when unknown. */
  readonly column: number;
}

/** One problem (or warning) found in a configuration. */
export interface ConfigIssue extends ConfigSource {
  /** Dotted key path such as `routes[0].listen.port`. */
  readonly path: string;
  /** What is wrong and what was expected. */
  readonly message: string;
  readonly severity: "error" | "warning";
}

/**
 * Control, line-separator and bidirectional-formatting characters: shown escaped, so a
 * key or value from a hostile file cannot drive the terminal or reorder what is read.
 */
const UNPRINTABLE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Longest key shown in a path; longer ones are cut. */
const MAX_KEY_CHARS = 64;

function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Formats a key path the way operators read it: `routes[0].listen.port`.
 *
 * @example
 * ```ts
 * formatPath(["routes", 0, "listen", "port"]); // "routes[0].listen.port"
 * ```
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const key = String(part);
      const shown = key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}...` : key;
      out += out === "" ? shown : `.${shown}`;
    }
  }
  return out === "" ? "(root)" : out;
}

/**
 * Formats one issue on one line: `file:line:col: error: path: message`.
 *
 * @example
 * ```ts
 * formatIssue({ file: "routes.yaml", line: 3, column: 5, path: "routes", message: "x", severity: "error" });
 * ```
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return printable(`${where}: ${issue.severity}: '${issue.path}' ${issue.message}`);
}

/** Thrown when a configuration cannot be loaded; carries every issue, not just the first. */
export class ConfigError extends Error {
  /** Every error and warning found. */
  readonly issues: readonly ConfigIssue[];

  /** Builds the error from the issues found in `file`. */
  constructor(file: string, issues: readonly ConfigIssue[]) {
    const errors = issues.filter((i) => i.severity === "error");
    super(
      `Cannot load configuration "${file}": ${errors.length} error(s)\n` +
        errors.map((i) => `  ${formatIssue(i)}`).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}
