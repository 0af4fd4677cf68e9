/**
 * The one loader used by `serve`, `validate` and SIGHUP reload: file bytes → YAML document
 * (within the limits of `_source.ts`) → raw value → environment overrides → schema →
 * semantic rules. Every issue is collected before failing, and whatever the input, the
 * only error thrown is {@linkcode ConfigError}.
 * @module
 */
import { isMap, isSeq, type LineCounter } from "yaml";
import type { Document, Node } from "yaml";
import type { z } from "zod";
import { type Config, ConfigSchema } from "./schema.ts";
import { ConfigError, type ConfigIssue, formatPath } from "./errors.ts";
import { type AppliedOverride, applyEnvOverrides, type EnvLookup, readEnv } from "./env.ts";
import { checkSemantics, partialConfig } from "./_semantics.ts";
import { knownKeysAt } from "./_zod_walk.ts";
import { suggestKey } from "./_suggest.ts";
import { decodeConfig, fileIssue, MAX_CONFIG_BYTES, parseSource, tooLarge } from "./_source.ts";

/** A loaded configuration and the warnings found on the way. */
export interface LoadedConfig {
  readonly file: string;
  readonly config: Config;
  readonly warnings: readonly ConfigIssue[];
  /** SHA-256 of the file text and applied overrides, for the config-hash info metric. */
  readonly hash: string;
}

/** Options of {@linkcode loadConfig}. */
export interface LoadOptions {
  /** Environment lookup, `Deno.env.get` by default. */
  readonly env?: EnvLookup;
}

/**
 * Resolves `-c` / `SPROX_CONFIG`: a directory means `<dir>/routes.yaml`.
 *
 * @example
 * ```ts
 * resolveConfigPath("config"); // "config/routes.yaml"
 * ```
 */
export function resolveConfigPath(arg: string | undefined, env: EnvLookup = readEnv): string {
  const chosen = arg ?? env("SPROX_CONFIG") ?? "config/routes.yaml";
  try {
    if (Deno.statSync(chosen).isDirectory) return `${chosen.replace(/\/+$/, "")}/routes.yaml`;
  } catch {
    // Not a directory we can see: treat as a file path and let reading report the problem.
  }
  return chosen;
}

function positionOf(
  doc: Document,
  counter: LineCounter,
  path: readonly PropertyKey[],
  key?: string,
): { line: number; column: number } {
  // Walk down as far as the document goes; report the deepest node that exists.
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (const part of [...path, ...(key === undefined ? [] : [key])]) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as { value?: unknown } | null;
        return k !== null && String(k?.value ?? k) === String(part);
      });
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof part === "number" && node.items[part] !== undefined) {
      node = node.items[part];
      keyNode = undefined;
    } else break;
  }
  const target = (key !== undefined ? keyNode : undefined) ?? (node as Node | null) ?? keyNode;
  const offset = target?.range?.[0] ?? 0;
  const { line, col } = counter.linePos(offset);
  return { line, column: col };
}

/** Longest rendering of a current value in a message. */
const MAX_VALUE_CHARS = 80;

function cut(text: string): string {
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}...` : text;
}

function describeValue(value: unknown): string {
  try {
    return cut(JSON.stringify(value) ?? String(value));
  } catch {
    return Array.isArray(value) ? "[...]" : "{...}";
  }
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const value = issue.path.reduce<unknown>(
    (v, k) =>
      v && typeof v === "object" && Object.hasOwn(v, k)
        ? (v as Record<PropertyKey, unknown>)[k]
        : undefined,
    raw,
  );
  // Key material and credentials are never echoed back, even when malformed.
  const secret = /^(key|aes_key|signing_secret|api_password|bearer_token|password)$/.test(
    String(issue.path.at(-1) ?? ""),
  );
  const current = value === undefined || secret ? "" : `: current value is ${describeValue(value)}`;
  switch (issue.code) {
    case "invalid_type":
      return value === undefined
        ? `is required (expected ${issue.expected})`
        : `must be ${issue.expected}${current}`;
    case "too_big":
    case "too_small":
      return `${
        issue.message.startsWith("must")
          ? issue.message
          : issue.message.replace(/^Too (big|small): expected \w+ to (have|be) /, "must be ")
      }${current}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}${current}`;
    default:
      return `${
        issue.message.startsWith("must") ? issue.message : `is invalid: ${issue.message}`
      }${current}`;
  }
}

function overrideFor(applied: readonly AppliedOverride[], path: readonly PropertyKey[]) {
  return applied.find((o) => o.path.every((p, i) => path[i] === p));
}

/**
 * Parses and validates configuration text, or the file's bytes (UTF-8); throws
 * {@linkcode ConfigError} with every issue, and nothing else whatever the input.
 *
 * @example
 * ```ts
 * const { config } = parseConfig("routes.yaml", "routes: []");
 * ```
 */
export function parseConfig(
  file: string,
  source: string | Uint8Array,
  options: LoadOptions = {},
): LoadedConfig {
  try {
    const text = typeof source === "string" ? source : decodeConfig(file, source);
    return parseText(file, text, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // The last line of defence: an input that breaks a rule below is still a config error.
    throw new ConfigError(file, [
      fileIssue(file, `cannot be processed: ${cut(String(error))}`),
    ]);
  }
}

function parseText(file: string, input: string, options: LoadOptions): LoadedConfig {
  const { text, doc, counter, raw: parsed } = parseSource(file, input);
  const issues: ConfigIssue[] = [];
  const raw = parsed ?? {};
  const { applied, problems } = applyEnvOverrides(raw, options.env ?? readEnv);
  for (const p of problems) {
    issues.push({
      file: `env ${p.variable}`,
      line: 0,
      column: 0,
      path: p.variable,
      message: p.message,
      severity: "error",
    });
  }

  const locate = (path: readonly PropertyKey[], key?: string) => {
    const override = overrideFor(applied, path);
    if (override) return { file: `env ${override.variable}`, line: 0, column: 0 };
    return { file, ...positionOf(doc, counter, path, key) };
  };

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        const known = knownKeysAt(ConfigSchema, issue.path);
        for (const key of issue.keys) {
          const hint = suggestKey(key, known);
          issues.push({
            ...locate(issue.path, key),
            path: formatPath([...issue.path, key]),
            message: `is not a known key${hint ? `: did you mean "${hint}"?` : ""}` +
              (known.length ? ` (expected one of: ${known.join(", ")})` : ""),
            severity: "error",
          });
        }
        continue;
      }
      issues.push({
        ...locate(issue.path),
        path: formatPath(issue.path),
        message: describeIssue(issue, raw),
        severity: "error",
      });
    }
  }

  // Semantic rules run on whatever passed the schema, so one run reports every problem.
  for (const s of checkSemantics(result.success ? result.data : partialConfig(raw))) {
    issues.push({
      ...locate(s.path),
      path: formatPath(s.path),
      message: s.message,
      severity: s.severity,
    });
  }
  const sorted = sortIssues(issues);
  if (!result.success || sorted.some((i) => i.severity === "error")) {
    throw new ConfigError(file, sorted);
  }
  const hashInput = text + JSON.stringify(applied.map((a) => a.variable));
  return { file, config: result.data, warnings: sorted, hash: fnv1a(hashInput) };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) =>
    a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column
  );
}

/** A short, stable fingerprint of the configuration (not a security hash). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * Reads and validates the configuration at `path` (a file, or a directory holding
 * `routes.yaml`). Throws {@linkcode ConfigError} listing every problem.
 */
export async function loadConfig(
  path: string | undefined,
  options: LoadOptions = {},
): Promise<LoadedConfig> {
  const file = resolveConfigPath(path, options.env);
  return parseConfig(file, await readConfigFile(file), options);
}

/**
 * Why a file cannot be read, in words (the error classes `Deno.stat` and `Deno.open` throw).
 *
 * @example
 * ```ts
 * describeReadError(new Deno.errors.NotFound("x")); // "file not found"
 * ```
 */
export function describeReadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  if (error instanceof Deno.errors.NotCapable) {
    return "outside the read permission of the sProx sandbox (--allow-read: config/, var/, /config, /etc/sprox)";
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.FilesystemLoop) return "too many levels of symbolic links";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory, not a YAML file";
  if (error instanceof Deno.errors.NotADirectory) {
    return "a component of the path is not a directory";
  }
  return cut(error instanceof Error ? error.message : String(error));
}

/**
 * Reads a configuration file of at most {@linkcode MAX_CONFIG_BYTES}: a directory, a
 * device, a pipe or a bigger file is refused before anything is read or parsed.
 */
async function readConfigFile(file: string): Promise<Uint8Array> {
  const refuse = (message: string): never => {
    throw new ConfigError(file, [fileIssue(file, message)]);
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (error) {
    return refuse(`cannot be read: ${describeReadError(error)}`);
  }
  if (info.isDirectory) refuse("cannot be read: is a directory, not a YAML file");
  if (!info.isFile) refuse("cannot be read: not a regular file");
  if (info.size > MAX_CONFIG_BYTES) refuse(tooLarge(info.size));
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(file, { read: true });
    // Read in chunks until the end or past the limit: a file that grew since stat() is
    // still bounded.
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(64 * 1024);
      const n = await handle.read(chunk);
      if (n === null) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > MAX_CONFIG_BYTES) refuse(tooLarge(total));
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    return refuse(`cannot be read: ${describeReadError(error)}`);
  } finally {
    handle?.close();
  }
}
