/**
 * Validation as pure functions over headers: a client's conditional request against a
 * stored response (RFC 9110 §13), the `304` a cache answers (§15.4.5), the validators a cache
 * sends to revalidate (RFC 9111 §4.3.1), and merging an origin's `304` into the stored
 * response (RFC 9111 §3.2, §4.3.4).
 * @module
 */
import { connectionNamed, copyHeaders, isHopByHop } from "../net/mod.ts";
import { parseHttpDate } from "./freshness.ts";

/**
 * Request fields that make an upstream answer partial or conditional: never sent on a fetch
 * whose answer must be the whole object (a cache fill, the source of a generated playlist).
 */
export const PARTIAL_OR_CONDITIONAL_HEADERS: readonly string[] = [
  "range",
  "if-range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
];

/** One entity tag (RFC 9110 §8.8.3); `tag` keeps its quotes. */
export interface EntityTag {
  readonly weak: boolean;
  readonly tag: string;
}

/** Parses one entity tag; an unquoted value is taken whole (some origins send those). */
export function parseEntityTag(text: string): EntityTag | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const weak = trimmed.startsWith("W/");
  return { weak, tag: weak ? trimmed.slice(2) : trimmed };
}

/** Parses an `If-Match`/`If-None-Match` list: `"*"` or the tags (commas inside quotes kept). */
export function parseEntityTagList(value: string): "*" | EntityTag[] {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  for (const match of value.matchAll(/\s*((?:W\/)?(?:"[^"]*"|[^,"\s]+))\s*(?:,|$)/g)) {
    const tag = parseEntityTag(match[1]);
    if (tag) tags.push(tag);
  }
  return tags;
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque tags are equal. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.tag === b.tag;
}

/** Strong comparison (RFC 9110 §8.8.3.2): neither is weak and the opaque tags are equal. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.tag === b.tag;
}

function listMatches(
  value: string,
  etag: EntityTag | null,
  compare: (a: EntityTag, b: EntityTag) => boolean,
): boolean {
  const list = parseEntityTagList(value);
  if (list === "*") return true;
  return etag !== null && list.some((tag) => compare(tag, etag));
}

/** The result of evaluating a request's preconditions against a stored `2xx` response. */
export type PreconditionResult = "proceed" | "not-modified" | "failed";

/**
 * Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` in
 * the order of RFC 9110 §13.2.2 against a stored response: `failed` answers `412`,
 * `not-modified` answers `304` (GET/HEAD). A date condition needs the stored
 * `Last-Modified`; without one (or with an invalid date) it is ignored.
 *
 * @example
 * ```ts
 * const stored = new Headers({ etag: '"v1"' });
 * evaluatePreconditions("GET", new Headers({ "if-none-match": 'W/"v1"' }), stored);
 * // "not-modified"
 * ```
 */
export function evaluatePreconditions(
  method: string,
  request: Headers,
  stored: Headers,
): PreconditionResult {
  const etagValue = stored.get("etag");
  const etag = etagValue === null ? null : parseEntityTag(etagValue);
  const lastModified = parseHttpDate(stored.get("last-modified"));
  const ifMatch = request.get("if-match");
  if (ifMatch !== null) {
    if (!listMatches(ifMatch, etag, strongMatch)) return "failed";
  } else {
    const since = parseHttpDate(request.get("if-unmodified-since"));
    if (since !== null && lastModified !== null && lastModified > since) return "failed";
  }
  if (method !== "GET" && method !== "HEAD") return "proceed";
  const ifNoneMatch = request.get("if-none-match");
  if (ifNoneMatch !== null) {
    return listMatches(ifNoneMatch, etag, weakMatch) ? "not-modified" : "proceed";
  }
  const since = parseHttpDate(request.get("if-modified-since"));
  if (since !== null && lastModified !== null && lastModified <= since) return "not-modified";
  return "proceed";
}

/** Fields a `304` carries (RFC 9110 §15.4.5), plus the cache's own `Age`/`Cache-Status`. */
const NOT_MODIFIED_FIELDS: readonly string[] = [
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "vary",
  "age",
  "cache-status",
];

/**
 * The headers of a `304` answered from `headers` (those of the `200` it stands for): the
 * fields of RFC 9110 §15.4.5, and `Last-Modified` only when there is no `ETag`.
 *
 * @example
 * ```ts
 * notModifiedHeaders(new Headers({ etag: '"a"', "content-type": "video/mp4" })).has("content-type");
 * // false
 * ```
 */
export function notModifiedHeaders(headers: Headers): Headers {
  const out = new Headers();
  for (const name of NOT_MODIFIED_FIELDS) {
    const value = headers.get(name);
    if (value !== null) out.set(name, value);
  }
  const lastModified = headers.get("last-modified");
  if (lastModified !== null && !headers.has("etag")) out.set("last-modified", lastModified);
  return out;
}

/**
 * The validators a cache sends to revalidate a stored response (RFC 9111 §4.3.1): its
 * `ETag` as `If-None-Match` and its `Last-Modified` as `If-Modified-Since`; empty when it has
 * neither.
 *
 * @example
 * ```ts
 * revalidationHeaders(new Headers({ etag: '"v2"' })).get("if-none-match"); // '"v2"'
 * ```
 */
export function revalidationHeaders(stored: Headers): Headers {
  const out = new Headers();
  const etag = stored.get("etag");
  const lastModified = stored.get("last-modified");
  if (etag !== null) out.set("if-none-match", etag);
  if (lastModified !== null) out.set("if-modified-since", lastModified);
  return out;
}

/** Whether a stored response has a validator to revalidate with. */
export function hasValidator(headers: Headers): boolean {
  return headers.has("etag") || headers.has("last-modified");
}

/**
 * Whether an origin's `304` selects the stored response for update (RFC 9111 §4.3.4): by
 * `ETag` when the `304` has one, else by `Last-Modified`; a `304` without validators
 * selects it (there is only ever one stored response per key).
 *
 * @example
 * ```ts
 * selectsForUpdate(new Headers({ etag: '"a"' }), new Headers({ etag: '"b"' })); // false
 * ```
 */
export function selectsForUpdate(stored: Headers, notModified: Headers): boolean {
  const fresh = notModified.get("etag");
  if (fresh !== null) {
    const a = parseEntityTag(fresh);
    const storedTag = stored.get("etag");
    const b = storedTag === null ? null : parseEntityTag(storedTag);
    return a !== null && b !== null && weakMatch(a, b);
  }
  const lastModified = notModified.get("last-modified");
  if (lastModified !== null) {
    return parseHttpDate(lastModified) === parseHttpDate(stored.get("last-modified"));
  }
  return true;
}

/**
 * Fields a `304` never changes in a stored response: `Content-Length` (RFC 9111 §3.2) and the
 * fields that describe the stored bytes (their integrity, §3.2's allowance). Hop-by-hop fields
 * (§3.1) are never merged either.
 */
const NOT_UPDATED: ReadonlySet<string> = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "content-type",
]);

/**
 * Merges an origin's `304` into the stored headers (RFC 9111 §3.2): every field it carries
 * replaces the stored one, except those in {@linkcode NOT_UPDATED} and hop-by-hop ones (those
 * of the `304`'s own `Connection` included).
 *
 * @example
 * ```ts
 * const merged = mergeNotModified(stored, new Headers({ "cache-control": "max-age=60" }));
 * ```
 */
export function mergeNotModified(stored: Headers, notModified: Headers): Headers {
  const out = copyHeaders(stored);
  const replaced = new Set<string>();
  const named = connectionNamed(notModified);
  for (const [name, value] of notModified) {
    if (NOT_UPDATED.has(name) || isHopByHop(name, named)) continue;
    if (!replaced.has(name)) {
      out.delete(name);
      replaced.add(name);
    }
    out.append(name, value);
  }
  return out;
}
