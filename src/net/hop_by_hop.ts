/**
 * Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection and never cross a
 * proxy or enter a cache (RFC 9111 §3.1), in either direction.
 * @module
 */

/** The fields hop-by-hop by definition; `proxy-*` and those `Connection` names are too. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "http2-settings",
]);

/** The names a `Connection` header lists (lower-cased). */
export function connectionNamed(headers: Headers): readonly string[] {
  const value = headers.get("connection");
  return value ? value.split(",").map((t) => t.trim().toLowerCase()) : [];
}

/**
 * Whether a (lower-case) field name is hop-by-hop, given the names `Connection` lists.
 *
 * @example
 * ```ts
 * isHopByHop("keep-alive", []); // true
 * isHopByHop("x-a", ["x-a"]); // true
 * ```
 */
export function isHopByHop(name: string, named: readonly string[]): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith("proxy-") ||
    (named.length > 0 && named.includes(name));
}

/**
 * A copy of `headers` without its hop-by-hop fields.
 *
 * @example
 * ```ts
 * stripHopByHop(new Headers({ connection: "x-a", "x-a": "1", etag: '"v"' })).has("x-a"); // false
 * ```
 */
export function stripHopByHop(headers: Headers): Headers {
  const out = new Headers();
  appendEndToEnd(headers, out);
  return out;
}

/**
 * Appends the fields of `source` that are not hop-by-hop to `target`, in one pass over the
 * source (`forEach`: a `for…of` over `Headers` makes an iterator result per field and costs
 * about ten times as much; this runs on every request). Appending to a fresh
 * response's headers costs a fraction of building the response from a `Headers` object.
 *
 * @example
 * ```ts
 * const response = new Response(null, { status: 204 });
 * appendEndToEnd(new Headers({ "keep-alive": "5", etag: '"v"' }), response.headers);
 * [...response.headers.keys()]; // ["etag"]
 * ```
 */
export function appendEndToEnd(source: Headers, target: Headers): void {
  const named = connectionNamed(source);
  // `forEach`: the same pairs as iterating, without an iterator object per field (~10× less).
  source.forEach((value, name) => {
    if (!isHopByHop(name, named)) target.append(name, value);
  });
}

/**
 * Removes the hop-by-hop fields of `headers` in place (one pass; nothing is copied).
 *
 * @example
 * ```ts
 * const headers = new Headers({ connection: "x-a", "x-a": "1", etag: '"v"' });
 * stripHopByHopInPlace(headers);
 * [...headers.keys()]; // ["etag"]
 * ```
 */
export function stripHopByHopInPlace(headers: Headers): void {
  const named = connectionNamed(headers);
  let drop: string[] | undefined;
  headers.forEach((_, name) => {
    if (isHopByHop(name, named)) (drop ??= []).push(name);
  });
  if (drop) { for (const name of drop) headers.delete(name); }
}

/**
 * A copy of `headers`. `new Headers(headers)` converts its argument as a generic sequence (an
 * iterator result per field), several times the cost of this `forEach` pass.
 *
 * @example
 * ```ts
 * copyHeaders(new Headers({ etag: '"v"' })).get("etag"); // '"v"'
 * ```
 */
export function copyHeaders(headers: Headers): Headers {
  const out = new Headers();
  headers.forEach((value, name) => out.append(name, value));
  return out;
}
