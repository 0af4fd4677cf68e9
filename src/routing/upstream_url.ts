/**
 * Joining a route's origin with a request path, safely.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";

/**
 * Joins the origin base path with the request path and query: no double slashes, and no
 * way out of the base path with `..`, `.` or their percent-encoded forms (`%2e%2e`,
 * `%2f`), which are refused with `400 bad_request`.
 *
 * @example
 * ```ts
 * joinUpstreamUrl(new URL("https://o.example/vod/"), new URL("http://sprox/a/b.m3u8?x=1")).href;
 * // "https://o.example/vod/a/b.m3u8?x=1"
 * ```
 */
export function joinUpstreamUrl(origin: URL, request: { pathname: string; search: string }): URL {
  const path = request.pathname;
  const base = origin.pathname.replace(/\/+$/, "");
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw new ProxyError(400, "bad_request", "malformed percent-encoding in path");
    }
    if (decoded === "" || decoded === ".") continue;
    if (decoded === ".." || decoded.includes("/") || decoded.includes("\\")) {
      throw new ProxyError(400, "bad_request", "path must not contain dot-segments");
    }
    segments.push(raw);
  }
  const url = new URL(origin.href);
  const trailing = path.endsWith("/") && segments.length ? "/" : "";
  url.pathname = `${base}/${segments.join("/")}${trailing}`;
  url.search = request.search;
  return url;
}
