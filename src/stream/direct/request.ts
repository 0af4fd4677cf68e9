/**
 * The `/proxy/stream` request contract: the mandatory `d` destination (a URL, or its
 * base64 as MediaFlow clients send it) and the `h_<name>` header overrides. Pure.
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

/** `h_<name>` spellings that name another header (MediaFlow clients write `h_referrer`). */
const HEADER_ALIASES: ReadonlyMap<string, string> = new Map([["referrer", "referer"]]);

/** What a deployment adds to the request contract. */
export interface DirectRequestOptions {
  /** Header names callers may override besides {@linkcode OVERRIDABLE_HEADERS} (lower-case). */
  readonly extraOverridable?: ReadonlySet<string>;
}

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
export function parseDirectRequest(url: URL, options: DirectRequestOptions = {}): DirectRequest {
  const target = requiredDestination(url, "d");
  return { target, overrides: parseHeaderOverrides(url, options) };
}

/**
 * The `h_<name>` request-header overrides of a URL (lower-case names, validated values), for
 * endpoints whose destinations are other parameters (`init_url`, `segment_url`).
 *
 * @example
 * ```ts
 * parseHeaderOverrides(new URL("http://s/proxy/mpd/init.mp4?init_url=x&h_referrer=r")).get("referer"); // "r"
 * ```
 */
export function parseHeaderOverrides(
  url: URL,
  options: DirectRequestOptions = {},
): Map<string, string> {
  const overrides = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    if (!key.toLowerCase().startsWith("h_")) continue;
    const written = key.slice(2).toLowerCase().replaceAll("_", "-");
    if (!/^[a-z0-9-]+$/.test(written)) {
      throw new ProxyError(400, "bad_override", `header override "${key}" is not a header name`);
    }
    const name = HEADER_ALIASES.get(written) ?? written;
    if (!OVERRIDABLE_HEADERS.has(name) && !options.extraOverridable?.has(name)) {
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
  return overrides;
}

// A base64 (standard or URL-safe alphabet, padding optional) text: never a URL, which
// always has a `:` after its scheme.
const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Reads a destination parameter: an absolute http(s) URL, or the base64 of one (MediaFlow
 * clients encode `d`). Anything else is a 400; a path that is ambiguous as written is a
 * 403 `ambiguous_path` (`classifyPath` of `src/net/path.ts`). The fragment is dropped.
 *
 * @example
 * ```ts
 * parseDestination("aHR0cHM6Ly9jZG4uZXhhbXBsZS9hLm1wNA", "d").href; // "https://cdn.example/a.mp4"
 * ```
 */
export function parseDestination(text: string, name: string): URL {
  let written = text;
  if (BASE64_TEXT.test(text)) {
    const decoded = decodeBase64Text(text);
    if (decoded === undefined) {
      throw new ProxyError(400, "bad_request", `${name} must be an absolute http(s) URL`);
    }
    written = decoded;
  }
  let target: URL;
  try {
    target = new URL(written);
  } catch {
    throw new ProxyError(400, "bad_request", `${name} must be an absolute http(s) URL`);
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new ProxyError(400, "bad_request", `${name} must be an absolute http(s) URL`);
  }
  // The path as the caller wrote it: the URL parser would silently resolve `..` and read
  // `\` as `/`; such a destination is refused, not normalised (403 ambiguous_path).
  assertUnambiguousPath(rawPathOf(written));
  target.hash = "";
  return target;
}

/** The one value of a mandatory destination parameter, parsed. */
export function requiredDestination(url: URL, name: string): URL {
  const values = url.searchParams.getAll(name);
  if (values.length === 0 || values[0] === "") {
    const what = name === "d"
      ? "query parameter d (the destination URL)"
      : `query parameter ${name}`;
    throw new ProxyError(400, "bad_request", `${what} is required`);
  }
  if (values.length > 1) {
    throw new ProxyError(400, "bad_request", `query parameter ${name} must be given once`);
  }
  return parseDestination(values[0], name);
}

/** base64 (either alphabet) of UTF-8 text, or undefined. */
function decodeBase64Text(text: string): string | undefined {
  const stripped = text.replace(/=+$/, "");
  if (stripped.length % 4 === 1) return undefined;
  try {
    const binary = atob(stripped.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
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
