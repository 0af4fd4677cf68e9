/**
 * Forwarding a request to a route's upstream.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import type { RoutePlan } from "./select_route.ts";

/** Joins the origin base path with the request path and query, without escaping the base. */
export function joinUpstreamUrl(origin: URL, path: string, search: string): URL {
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
  url.pathname = `${base}/${segments.join("/")}${path.endsWith("/") && segments.length ? "/" : ""}`;
  url.search = search;
  return url;
}

/** Forwards `request` to the route's origin and returns the upstream response. */
export async function forwardToRoute(request: Request, route: RoutePlan): Promise<Response> {
  const url = new URL(request.url);
  const target = joinUpstreamUrl(route.origin, url.pathname, url.search);
  try {
    const upstream = await fetch(target, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: request.signal,
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  } catch (error) {
    throw new ProxyError(502, "upstream_error", "upstream request failed", { cause: error });
  }
}
