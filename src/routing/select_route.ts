/**
 * Route selection: listener, then host glob, then protocol. Matchers are compiled once
 * per configuration.
 * @module
 */
import type { Config, RouteConfig } from "../config/mod.ts";

/** A compiled route. */
export interface RoutePlan {
  readonly id: string;
  readonly config: RouteConfig;
  readonly listenerKey: string;
  readonly protocols: ReadonlySet<string>;
  readonly origin: URL;
}

interface Matcher {
  readonly route: RoutePlan;
  /** Exact host, or the suffix after `*.` for wildcards. */
  readonly exact?: string;
  readonly labels?: readonly string[];
  /** Number of literal labels: more literal labels = more specific. */
  readonly specificity: number;
}

/** Routes of one listener, indexed for lookup. */
export interface ListenerRoutes {
  readonly exact: ReadonlyMap<string, RoutePlan>;
  readonly wildcards: readonly Matcher[];
}

/** The compiled route table of a configuration. */
export interface RoutingTable {
  readonly routes: readonly RoutePlan[];
  readonly byListener: ReadonlyMap<string, ListenerRoutes>;
}

/** The key of a listener address, `host:port`. */
export function listenerKey(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Normalises a request host: lower-case, port and trailing dot removed. */
export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/**
 * Compiles the route table of a configuration.
 *
 * @example
 * ```ts
 * const table = compileRoutes(config);
 * ```
 */
export function compileRoutes(config: Config): RoutingTable {
  const byListener = new Map<string, { exact: Map<string, RoutePlan>; wildcards: Matcher[] }>();
  const routes: RoutePlan[] = [];
  for (const route of config.routes) {
    const key = listenerKey(route.listen.host, route.listen.port);
    const plan: RoutePlan = {
      id: route.id,
      config: route,
      listenerKey: key,
      protocols: new Set(route.protocols),
      origin: new URL(route.upstream.origin),
    };
    routes.push(plan);
    const entry = byListener.get(key) ??
      { exact: new Map<string, RoutePlan>(), wildcards: [] as Matcher[] };
    byListener.set(key, entry);
    for (const raw of route.host_patterns) {
      const pattern = normaliseHost(raw);
      if (!pattern.includes("*")) {
        entry.exact.set(pattern, plan);
        continue;
      }
      const labels = pattern.split(".");
      entry.wildcards.push({
        route: plan,
        labels,
        specificity: labels.filter((l) => l !== "*").length,
      });
    }
  }
  for (const entry of byListener.values()) {
    entry.wildcards.sort((a, b) => b.specificity - a.specificity);
  }
  return { routes, byListener };
}

function matchesLabels(pattern: readonly string[], host: readonly string[]): boolean {
  if (pattern.length === 1 && pattern[0] === "*") return true;
  if (pattern.length !== host.length) return false;
  return pattern.every((p, i) => p === "*" || p === host[i]);
}

/**
 * Selects the route for a request host on a listener: exact beats wildcard, the most
 * specific wildcard wins, `*` matches exactly one label (a lone `*` matches any host).
 */
export function selectRoute(
  table: RoutingTable,
  listener: string,
  host: string,
): RoutePlan | undefined {
  const entry = table.byListener.get(listener);
  if (!entry) return undefined;
  const h = normaliseHost(host);
  const exact = entry.exact.get(h);
  if (exact) return exact;
  const labels = h.split(".");
  for (const m of entry.wildcards) {
    if (matchesLabels(m.labels!, labels)) return m.route;
  }
  return undefined;
}
