/**
 * The running configuration as the admin API shows it: every secret replaced by
 * `[REDACTED]`, whichever field holds it. Three layers, so that a secret added to the
 * schema later is covered without an edit here: field names that say "secret" (password,
 * token, secret, credential, authorization, cookie, key material), URLs with credentials
 * or credential-bearing query parameters, and finally every known secret value wherever
 * it appears. Pure functions over values.
 * @module
 */
import { REDACTED, redactUrl } from "../telemetry/mod.ts";

/** Field names whose string values are secrets. */
const SECRET_NAME =
  /(^|_)(pass|password|passwd|passphrase|secret|token|credential|credentials|authorization|cookie|apikey)($|_)|(^|_)api_key$/i;

/** Names of fields that hold key material when the value looks like it. */
const KEY_NAME = /(^|_)key$/i;

/** Key material: 16+ characters of hex or base64(url), no separators. */
const KEY_MATERIAL = /^[A-Za-z0-9+/_=-]{16,}$/;

/**
 * Whether a configuration key names a secret (its value is redacted whatever it is).
 *
 * @example
 * ```ts
 * isSecretKey("api_password"); // true
 * isSecretKey("private_key_path"); // false
 * ```
 */
export function isSecretKey(name: string): boolean {
  return SECRET_NAME.test(name);
}

function redactValue(name: string, value: string): string {
  if (SECRET_NAME.test(name)) return REDACTED;
  if (KEY_NAME.test(name) && KEY_MATERIAL.test(value)) return REDACTED;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    return redactUrl(value, { redactDrmEverywhere: true });
  }
  return value;
}

function walk(value: unknown, name: string): unknown {
  if (typeof value === "string") return redactValue(name, value);
  if (Array.isArray(value)) return value.map((item) => walk(item, name));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) out[key] = walk(child, key);
    return out;
  }
  return value;
}

/**
 * A JSON-ready copy of `config` with its secrets redacted: by field name, inside URLs, and
 * every value of `secrets` (the configured secret values) wherever it still appears.
 * `null` stays `null`, so the output still tells whether a credential is set.
 *
 * @example
 * ```ts
 * redactConfig({ auth: { bearer_token: "s3cr3t-Token-value" } }, ["s3cr3t-Token-value"]);
 * // { auth: { bearer_token: "[REDACTED]" } }
 * ```
 */
export function redactConfig(config: unknown, secrets: readonly string[]): unknown {
  const named = walk(config, "");
  return scrubValues(named, secrets);
}

/**
 * Shortest value searched for by value: shorter ones would match ordinary words (they are
 * still redacted by their field's name).
 */
const MIN_SCRUBBED_LENGTH = 4;

/**
 * Replaces every occurrence of each secret value inside the strings of `value` (longest
 * first, so a secret containing another goes whole).
 *
 * @example
 * ```ts
 * scrubValues({ note: "token=abcdefgh" }, ["abcdefgh"]); // { note: "token=[REDACTED]" }
 * ```
 */
export function scrubValues(value: unknown, secrets: readonly string[]): unknown {
  const sorted = [...new Set(secrets)].filter((s) => s.length >= MIN_SCRUBBED_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return value;
  const scrub = (text: string) => {
    let out = text;
    for (const secret of sorted) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
    return out;
  };
  const visit = (v: unknown): unknown => {
    if (typeof v === "string") return scrub(v);
    if (Array.isArray(v)) return v.map(visit);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(v)) out[scrub(key)] = visit(child);
      return out;
    }
    return v;
  };
  return visit(value);
}
