/**
 * `Cache-Control` parsing (RFC 9111 §5.2) into the directives a shared cache acts on.
 * Pure: a header value in, a frozen record out.
 * @module
 */

/** The largest delta-seconds a cache must represent (RFC 9111 §1.2.2). */
export const DELTA_SECONDS_MAX = 2_147_483_648;

/** The directives of one `Cache-Control` field value that sProx's cache reads. */
export interface CacheControl {
  /** `max-age` in seconds (RFC 9111 §5.2.2.1). */
  readonly maxAge?: number;
  /** `s-maxage` in seconds, for shared caches (§5.2.2.10). */
  readonly sMaxAge?: number;
  /** `stale-while-revalidate` in seconds (RFC 5861 §3). */
  readonly staleWhileRevalidate?: number;
  /** `stale-if-error` in seconds (RFC 5861 §4). */
  readonly staleIfError?: number;
  /** `no-store` (§5.2.2.5). */
  readonly noStore: boolean;
  /** Set for `no-cache` in both forms (a qualified `no-cache="field"` is treated as unqualified). */
  readonly noCache: boolean;
  /** Set for `private` in both forms (a qualified `private="field"` is treated as unqualified). */
  readonly private: boolean;
  /** `public` (§5.2.2.9). */
  readonly public: boolean;
  /** `must-revalidate` (§5.2.2.2). */
  readonly mustRevalidate: boolean;
  /** `proxy-revalidate` (§5.2.2.8). */
  readonly proxyRevalidate: boolean;
  /** The request directive `only-if-cached` (§5.2.1.7). */
  readonly onlyIfCached: boolean;
  /** `immutable` (RFC 8246). */
  readonly immutable: boolean;
}

/** Splits on commas outside quoted strings. */
function splitDirectives(value: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\" && i + 1 < value.length) {
      current += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * A delta-seconds argument (RFC 9111 §1.2.2); the quoted form is accepted too (§5.2).
 * Returns 0 for an invalid value, so a malformed `max-age` makes the response stale rather
 * than fresh for ever (§4.2.1: a cache should consider such a response stale).
 */
function deltaSeconds(argument: string | undefined): number {
  const text = argument?.replace(/^"(.*)"$/, "$1");
  if (text === undefined || !/^\d+$/.test(text)) return 0;
  const n = Number(text);
  return n > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : n;
}

/**
 * Parses a `Cache-Control` field value (several field lines arrive joined by `, `).
 * Directive names are case-insensitive; for a repeated directive the first one counts
 * (RFC 9111 §4.2.1); unknown directives are ignored (§5.2.3).
 *
 * @example
 * ```ts
 * const cc = parseCacheControl('public, max-age=60, stale-while-revalidate="5"');
 * cc.maxAge; // 60
 * cc.staleWhileRevalidate; // 5
 * ```
 */
export function parseCacheControl(value: string | null): CacheControl {
  const seen = new Map<string, string | undefined>();
  if (value) {
    for (const part of splitDirectives(value)) {
      const trimmed = part.trim();
      if (trimmed === "") continue;
      const eq = trimmed.indexOf("=");
      const name = (eq === -1 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
      const argument = eq === -1 ? undefined : trimmed.slice(eq + 1).trim();
      if (!seen.has(name)) seen.set(name, argument);
    }
  }
  const seconds = (name: string): number | undefined =>
    seen.has(name) ? deltaSeconds(seen.get(name)) : undefined;
  return Object.freeze({
    maxAge: seconds("max-age"),
    sMaxAge: seconds("s-maxage"),
    staleWhileRevalidate: seconds("stale-while-revalidate"),
    staleIfError: seconds("stale-if-error"),
    noStore: seen.has("no-store"),
    noCache: seen.has("no-cache"),
    private: seen.has("private"),
    public: seen.has("public"),
    mustRevalidate: seen.has("must-revalidate"),
    proxyRevalidate: seen.has("proxy-revalidate"),
    onlyIfCached: seen.has("only-if-cached"),
    immutable: seen.has("immutable"),
  });
}
