/**
 * Environment overrides, applied in one place to the raw configuration before it is
 * validated, so an environment value is checked exactly like a file value.
 * @module
 */

/** An environment lookup; `Deno.env.get` in production, a map in tests. */
export type EnvLookup = (name: string) => string | undefined;

/** One override that was applied, remembered so errors can name the variable. */
export interface AppliedOverride {
  readonly variable: string;
  readonly path: readonly PropertyKey[];
}

/** The variables sProx reads, each with what it sets. */
export const ENV_VARIABLES: Readonly<Record<string, string>> = {
  SPROX_CONFIG: "configuration file or directory (instead of config/routes.yaml)",
  SPROX_PROXY_URL: "socks5://[user:pass@]host:port forced on every route's upstream",
  SPROX_DIRECT_PROXY_URL: "direct_stream.proxy_url",
  SPROX_DIRECT_API_PASSWORD: "direct_stream.api_password",
  SPROX_API_PASSWORD: "auth.bearer_token (Authorization: Bearer on /proxy/* and /keys*)",
  SPROX_DIRECT_REQUEST_TIMEOUT_MS: "direct_stream.request_timeout_ms",
  SPROX_DIRECT_RESPONSE_BUFFER_BYTES: "direct_stream.response_buffer_bytes",
  SPROX_CLEARKEY_KEYS: "extra ClearKey keys, 'kid:key[,kid:key…]' in hex",
  SPROX_LOG_LEVEL: "telemetry.log_level",
  SPROX_STATE_REDIS_URL: "state.redis_url (shared rate-limit buckets in Redis)",
  API_PASSWORD: "auth.bearer_token when SPROX_API_PASSWORD is unset",
  SIGNING_SECRET: "tokens.signing_secret (HMAC-SHA256 key of signed URLs, base64)",
  AES_KEY: "tokens.aes_key (AES-256-GCM key of sealed URLs, 64 hex digits)",
  SPROX_ADMIN_TOKEN: "admin.bearer_token (Authorization: Bearer on the admin listener)",
  NOTIFY_SOCKET: "set by systemd (Type=notify): where readiness and watchdog pings go",
  WATCHDOG_USEC: "set by systemd (WatchdogSec=): the watchdog interval in microseconds",
  REALDEBRID_API_TOKEN: "reserved for Real-Debrid integrations",
  ALLDEBRID_API_TOKEN: "reserved for AllDebrid integrations",
};

/** Reads a variable, treating a missing permission as "unset" (the sandbox lists what we read). */
export function readEnv(name: string): string | undefined {
  try {
    const value = Deno.env.get(name);
    return value === "" ? undefined : value;
  } catch {
    return undefined;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

function setIn(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = asRecord(node[key]);
    if (next) node = next;
    else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  node[path[path.length - 1]] = value;
}

/** Numbers from the environment become numbers when they look like one, so the schema checks them. */
function coerce(value: string): unknown {
  return /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/** Result of parsing `SPROX_PROXY_URL`. */
export interface Socks5Override {
  readonly address: string;
  readonly username: string | null;
  readonly password: string | null;
}

/**
 * Parses a `socks5://user:pass@host:port` URL; returns an error message when malformed.
 *
 * @example
 * ```ts
 * parseSocks5Url("socks5://u:p@127.0.0.1:1080"); // { address: "127.0.0.1:1080", username: "u", password: "p" }
 * ```
 */
export function parseSocks5Url(raw: string): Socks5Override | string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be a socks5://host:port URL";
  }
  if (url.protocol !== "socks5:" && url.protocol !== "socks5h:") {
    return `must use the socks5:// scheme: current scheme is "${url.protocol.slice(0, -1)}"`;
  }
  if (!url.hostname || !url.port) return "must include host and port (socks5://host:port)";
  return {
    address: `${url.hostname}:${url.port}`,
    username: url.username ? decodeURIComponent(url.username) : null,
    password: url.password ? decodeURIComponent(url.password) : null,
  };
}

/**
 * Applies every environment override to the raw (unvalidated) configuration in place.
 * Returns the overrides applied, and messages for variables that cannot be applied.
 */
export function applyEnvOverrides(
  raw: unknown,
  env: EnvLookup = readEnv,
): { applied: AppliedOverride[]; problems: { variable: string; message: string }[] } {
  const applied: AppliedOverride[] = [];
  const problems: { variable: string; message: string }[] = [];
  const root = asRecord(raw);
  if (!root) return { applied, problems };

  const simple: [string, string[]][] = [
    ["SPROX_DIRECT_PROXY_URL", ["direct_stream", "proxy_url"]],
    ["SPROX_DIRECT_API_PASSWORD", ["direct_stream", "api_password"]],
    ["SPROX_DIRECT_REQUEST_TIMEOUT_MS", ["direct_stream", "request_timeout_ms"]],
    ["SPROX_DIRECT_RESPONSE_BUFFER_BYTES", ["direct_stream", "response_buffer_bytes"]],
    ["SPROX_LOG_LEVEL", ["telemetry", "log_level"]],
    ["SPROX_STATE_REDIS_URL", ["state", "redis_url"]],
    ["SPROX_ADMIN_TOKEN", ["admin", "bearer_token"]],
  ];
  for (const [variable, path] of simple) {
    const value = env(variable);
    if (value === undefined) continue;
    if (path[0] === "direct_stream" && root.direct_stream === null) root.direct_stream = {};
    const numeric = path[1].endsWith("_ms") || path[1].endsWith("_bytes");
    setIn(root, path, numeric ? coerce(value) : value);
    applied.push({ variable, path });
  }

  const bearer = env("SPROX_API_PASSWORD") ?? env("API_PASSWORD");
  if (bearer !== undefined) {
    const variable = env("SPROX_API_PASSWORD") !== undefined
      ? "SPROX_API_PASSWORD"
      : "API_PASSWORD";
    setIn(root, ["auth", "bearer_token"], bearer);
    applied.push({ variable, path: ["auth", "bearer_token"] });
  }

  const socks = env("SPROX_PROXY_URL");
  if (socks !== undefined) {
    const parsed = parseSocks5Url(socks);
    if (typeof parsed === "string") {
      problems.push({ variable: "SPROX_PROXY_URL", message: parsed });
    } else if (Array.isArray(root.routes)) {
      root.routes.forEach((route, index) => {
        const r = asRecord(route);
        if (!r) return;
        setIn(r, ["upstream", "socks5"], { enabled: true, ...parsed });
        applied.push({
          variable: "SPROX_PROXY_URL",
          path: ["routes", index, "upstream", "socks5"],
        });
      });
    }
  }

  // Key material is format-checked here, so a malformed value is reported without being
  // echoed (the schema's messages quote the current value); a valid one sets its key.
  const keys: [string, string[], RegExp, string][] = [
    ["SIGNING_SECRET", ["tokens", "signing_secret"], /^[A-Za-z0-9+/]+={0,2}$/, "must be base64"],
    ["AES_KEY", ["tokens", "aes_key"], /^[0-9a-fA-F]{64}$/, "must be 64 hex digits (32 bytes)"],
  ];
  for (const [variable, path, format, message] of keys) {
    const value = env(variable);
    if (value === undefined) continue;
    if (!format.test(value)) {
      problems.push({ variable, message });
      continue;
    }
    setIn(root, path, value);
    applied.push({ variable, path });
  }
  const clearkeys = env("SPROX_CLEARKEY_KEYS");
  if (clearkeys !== undefined) {
    const entries = clearkeys.split(",").map((s) => s.trim()).filter(Boolean).map((pair) => {
      const [kid, key] = pair.split(":");
      return { kid, key };
    });
    const secrets = asRecord(root.secrets) ?? {};
    root.secrets = secrets;
    const existing = Array.isArray(secrets.clearkey) ? secrets.clearkey : [];
    secrets.clearkey = [...existing, ...entries];
    entries.forEach((_, i) =>
      applied.push({
        variable: "SPROX_CLEARKEY_KEYS",
        path: ["secrets", "clearkey", existing.length + i],
      })
    );
  }
  return { applied, problems };
}

/**
 * Loads `KEY=VALUE` lines from a `.env` file into the environment, without overriding
 * variables already set. Only the variables sProx knows are loaded.
 */
export function loadDotEnv(path = ".env"): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return 0;
  }
  let loaded = 0;
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || !(match[1] in ENV_VARIABLES)) continue;
    let value = match[2];
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    if (value === "" || readEnv(match[1]) !== undefined) continue;
    try {
      Deno.env.set(match[1], value);
      loaded++;
    } catch {
      // Not allowed by the sandbox: skipped, like an unknown key.
    }
  }
  return loaded;
}
