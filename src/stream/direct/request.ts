/**
 * The `/proxy/stream` request contract: the mandatory `d` destination and the `h_<name>`
 * header overrides. Pure.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { rawPathOf } from "../../net/mod.ts";
import { assertUnambiguousPath } from "../../routing/mod.ts";

/**
 * Request headers a caller may set with `h_<name>` (lower-case). Each exists for playback:
 * `range`/`if-range` for seeking, the conditionals for revalidation, `referer`/`origin`/
 * `user-agent` for origins that gate on them, `accept`/`accept-language` for negotiation.
 */
export const OVERRIDABLE_HEADERS: ReadonlySet<string> = new Set([
  "range",
  "referer",
  "user-agent",
  "origin",
  "accept",
  "accept-language",
  "if-range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
]);

/**
 * Request headers copied from the caller's own request when no override names them. Not
 * `referer`/`origin` (they would leak the player's page to the origin) and never
 * credentials or cookies.
 */
export const PASSED_THROUGH_HEADERS: readonly string[] = [
  "range",
  "if-range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "accept",
  "accept-language",
  "user-agent",
];

/** A validated `/proxy/stream` request. */
export interface DirectRequest {
  /** The destination as parsed by the WHATWG URL parser. */
  readonly target: URL;
  /** Header overrides, lower-case names, validated values. */
  readonly overrides: ReadonlyMap<string, string>;
}

/** A header value: visible ASCII, space and tab only (RFC 9110 §5.5, no obs-text). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Parses and validates `d` and the `h_*` overrides of a request URL. A `d` whose path, as
 * written, is ambiguous (`classifyPath` of `src/net/path.ts`: dot segments in any encoding,
 * `..;`, `\`, double encoding, …) is refused with `403 ambiguous_path`.
 *
 * @example
 * ```ts
 * const req = parseDirectRequest(
 *   new URL("http://sprox/proxy/stream?d=https%3A%2F%2Fcdn.example%2Fa.mp4&h_range=bytes%3D0-1"),
 * );
 * req.overrides.get("range"); // "bytes=0-1"
 * ```
 */
export function parseDirectRequest(url: URL): DirectRequest {
  const destinations = url.searchParams.getAll("d");
  if (destinations.length === 0 || destinations[0] === "") {
    throw new ProxyError(400, "bad_request", "query parameter d (the destination URL) is required");
  }
  if (destinations.length > 1) {
    throw new ProxyError(400, "bad_request", "query parameter d must be given once");
  }
  let target: URL;
  try {
    target = new URL(destinations[0]);
  } catch {
    throw new ProxyError(400, "bad_request", "d must be an absolute http(s) URL");
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new ProxyError(400, "bad_request", "d must be an absolute http(s) URL");
  }
  // The path as the caller wrote it: the URL parser would silently resolve `..` and read
  // `\` as `/`; such a destination is refused, not normalised (403 ambiguous_path).
  assertUnambiguousPath(rawPathOf(destinations[0]));
  target.hash = "";
  const overrides = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    if (!key.toLowerCase().startsWith("h_")) continue;
    const name = key.slice(2).toLowerCase().replaceAll("_", "-");
    if (!/^[a-z0-9-]+$/.test(name)) {
      throw new ProxyError(400, "bad_override", `header override "${key}" is not a header name`);
    }
    if (!OVERRIDABLE_HEADERS.has(name)) {
      throw new ProxyError(400, "bad_override", `header override "${name}" is not allowed`);
    }
    if (!FIELD_VALUE.test(value)) {
      throw new ProxyError(400, "bad_override", `header override "${name}" has an invalid value`);
    }
    if (overrides.has(name)) {
      throw new ProxyError(400, "bad_override", `header override "${name}" is given twice`);
    }
    overrides.set(name, value.trim());
  }
  return { target, overrides };
}

/**
 * Builds the upstream request headers: allowlisted headers of the caller's request, then the
 * overrides, then `accept-encoding: identity` (byte ranges must address the stored bytes,
 * and the runtime would otherwise decode compressed bodies under the caller's ranges).
 *
 * @example
 * ```ts
 * upstreamHeaders(new Headers({ range: "bytes=0-" }), new Map());
 * ```
 */
export function upstreamHeaders(
  incoming: Headers,
  overrides: ReadonlyMap<string, string>,
): Headers {
  const headers = new Headers();
  for (const name of PASSED_THROUGH_HEADERS) {
    const value = incoming.get(name);
    if (value !== null && FIELD_VALUE.test(value)) headers.set(name, value);
  }
  for (const [name, value] of overrides) headers.set(name, value);
  headers.set("accept-encoding", "identity");
  return headers;
}
