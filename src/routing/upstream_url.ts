/**
 * Joining a route's origin with a request path, safely.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { classifyPath, describePathAmbiguity } from "../net/mod.ts";

/**
 * Refuses a path an origin could read differently than sProx (see `classifyPath` in
 * `src/net/path.ts`: dot segments in any encoding, `..;`, double encoding, `%2F`/`%5C`,
 * backslashes, controls, invalid UTF-8, Unicode look-alikes) with `403 ambiguous_path`.
 * Route forwarding and `/proxy/stream` (every hop) share it.
 *
 * @example
 * ```ts
 * assertUnambiguousPath("/vod/a.m3u8"); // passes
 * assertUnambiguousPath("/vod/..;/secret"); // throws 403 ambiguous_path
 * ```
 */
export function assertUnambiguousPath(path: string): void {
  const ambiguity = classifyPath(path);
  if (ambiguity !== null) {
    throw new ProxyError(
      403,
      "ambiguous_path",
      `ambiguous path: ${describePathAmbiguity(ambiguity)}`,
    );
  }
}

/**
 * Joins the origin base path with the request path and query: no double slashes, and no
 * way out of the base path: an ambiguous path ({@linkcode assertUnambiguousPath}) is
 * refused with `403 ambiguous_path`.
 *
 * @example
 * ```ts
 * joinUpstreamUrl(new URL("https://o.example/vod/"), new URL("http://sprox/a/b.m3u8?x=1")).href;
 * // "https://o.example/vod/a/b.m3u8?x=1"
 * ```
 */
export function joinUpstreamUrl(origin: URL, request: { pathname: string; search: string }): URL {
  const path = request.pathname;
  assertUnambiguousPath(path);
  const base = origin.pathname.replace(/\/+$/, "");
  const segments = path.split("/").filter((segment) => segment !== "");
  const trailing = path.endsWith("/") && segments.length ? "/" : "";
  const joined = `${base}/${segments.join("/")}${trailing}`;
  // One parse of the whole URL: the path and query come from a parsed URL already (encoded,
  // with no `?` or `#` left in the path), so they read back as the setters would write them.
  if (origin.username === "" && origin.password === "" && !/[?#]/.test(joined)) {
    return new URL(`${origin.protocol}//${origin.host}${joined}${request.search}`);
  }
  return settersJoin(origin, joined, request.search);
}

/** The join through the URL setters (origins with credentials in them). */
function settersJoin(origin: URL, path: string, search: string): URL {
  const url = new URL(origin.href);
  url.pathname = path;
  url.search = search;
  return url;
}
