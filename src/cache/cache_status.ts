/**
 * The `Cache-Status` response header (RFC 9211): one list member per cache, in order from
 * the origin to the client; sProx appends its own member after any an upstream cache set.
 * @module
 */

/** Why a request went forward to the origin (RFC 9211 §2.2). */
export type ForwardReason =
  | "bypass"
  | "method"
  | "uri-miss"
  | "vary-miss"
  | "miss"
  | "request"
  | "stale"
  | "partial";

/** One cache's report on a response (RFC 9211 §2). */
export interface CacheStatusMember {
  /** Served from the cache without going forward (§2.1). */
  readonly hit?: boolean;
  /** Why the request went forward (§2.2). */
  readonly fwd?: ForwardReason;
  /** The status the origin answered the forwarded request with (§2.3). */
  readonly fwdStatus?: number;
  /** Remaining freshness in seconds, negative when stale (§2.4). */
  readonly ttl?: number;
  /** The response was stored (§2.5). */
  readonly stored?: boolean;
  /** The request was collapsed into another one's forward request (§2.6). */
  readonly collapsed?: boolean;
  /** Free-form detail (§2.8), e.g. `stale-while-revalidate` or why nothing was stored. */
  readonly detail?: string;
}

/** The name sProx reports itself under. */
export const CACHE_STATUS_NAME = "sprox";

/** An sf-token (RFC 8941 §3.3.4), or a quoted sf-string otherwise. */
function token(value: string): string {
  return /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(value)
    ? value
    : `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Serialises one `Cache-Status` list member.
 *
 * @example
 * ```ts
 * formatCacheStatus({ fwd: "stale", fwdStatus: 304, ttl: 30 }); // "sprox; fwd=stale; fwd-status=304; ttl=30"
 * ```
 */
export function formatCacheStatus(
  member: CacheStatusMember,
  name: string = CACHE_STATUS_NAME,
): string {
  const parts = [token(name)];
  if (member.hit) parts.push("hit");
  if (member.fwd) parts.push(`fwd=${member.fwd}`);
  if (member.fwdStatus !== undefined) parts.push(`fwd-status=${member.fwdStatus}`);
  if (member.stored) parts.push("stored");
  if (member.collapsed) parts.push("collapsed");
  if (member.ttl !== undefined) parts.push(`ttl=${Math.floor(member.ttl)}`);
  if (member.detail) parts.push(`detail=${token(member.detail)}`);
  return parts.join("; ");
}

/**
 * Appends a member to `headers`' `Cache-Status`, keeping what upstream caches reported.
 *
 * @example
 * ```ts
 * appendCacheStatus(headers, "sprox; hit; ttl=12");
 * ```
 */
export function appendCacheStatus(headers: Headers, member: string): void {
  const previous = headers.get("cache-status");
  headers.set("cache-status", previous ? `${previous}, ${member}` : member);
}
