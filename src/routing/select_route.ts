/**
 * Route selection: listener, then host glob, then protocol. Matchers are compiled once
 * per configuration; a request only does map lookups and label comparisons.
 * @module
 */
import type { Config, RouteConfig } from "../config/mod.ts";
import { ProxyError } from "../errors/mod.ts";
import type { ClientPool } from "./clients.ts";
import { compileHeaderPolicy, type HeaderPolicy } from "./headers.ts";
import { HealthChecker } from "./health_check.ts";
import { liveOrigins, originHealthy } from "./metrics.ts";
import { compileOrigins, type OriginPlan } from "./origins.ts";

/** How a client reached a listener. */
export type ClientProtocol = "http" | "https";

/** What route selection looks at in a request. */
export interface RouteQuery {
  /** The listener key, `host:port`. */
  readonly listener: string;
  /** `Host` or `:authority`, as received. */
  readonly host: string;
  /** How the client reached the listener; omitted, any protocol matches. */
  readonly protocol?: ClientProtocol;
}

/** A compiled route. */
export interface RoutePlan {
  readonly id: string;
  readonly config: RouteConfig;
  readonly listenerKey: string;
  readonly protocols: ReadonlySet<string>;
  /**
   * The URL of the first origin: the base that playlists are resolved against and
   * rewritten from (every origin of a failover set serves the same paths).
   */
  readonly origin: URL;
  /** Every origin, in configuration order, with its client and health. */
  readonly origins: readonly OriginPlan[];
  readonly headers: HeaderPolicy;
}

interface Matcher {
  readonly route: RoutePlan;
  readonly labels: readonly string[];
  /** Number of literal labels: more literal labels = more specific. */
  readonly specificity: number;
}

/** Routes of one listener, indexed for lookup. */
export interface ListenerRoutes {
  /** Exact host → routes in configuration order. */
  readonly exact: ReadonlyMap<string, readonly RoutePlan[]>;
  /** Wildcard patterns, most specific first. */
  readonly wildcards: readonly Matcher[];
}

/** The compiled route table of a configuration. */
export interface RoutingTable {
  readonly routes: readonly RoutePlan[];
  readonly byListener: ReadonlyMap<string, ListenerRoutes>;
  /** The upstream clients the routes share; closed when the plan is disposed. */
  readonly clients: ClientPool;
  /**
   * Makes this table the live one: its origins' health gauges are published and their
   * active health checks start. Only the serving plan's table is active.
   */
  activate(): void;
  /** Stops the active health checks (a reload replaced the table, or shutdown). */
  deactivate(): void;
}

/** The key of a listener address, `host:port`. */
export function listenerKey(host: string, port: number): string {
  return `${host}:${port}`;
}

/**
 * Normalises a request host: lower-case, port and trailing dot removed.
 *
 * @example
 * ```ts
 * normaliseHost("Video.Example.COM.:8080"); // "video.example.com"
 * ```
 */
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

/** Compiles one route; `previous` is the route of the same id in the plan being replaced. */
function compileRoute(route: RouteConfig, clients: ClientPool, previous?: RoutePlan): RoutePlan {
  const origins = compileOrigins(route, clients, previous?.origins);
  return {
    id: route.id,
    config: route,
    listenerKey: listenerKey(route.listen.host, route.listen.port),
    protocols: new Set(route.protocols),
    origin: origins[0].url,
    origins,
    headers: compileHeaderPolicy(route.headers),
  };
}

/**
 * Compiles the route table of a configuration, building the upstream clients in `clients`.
 * Origin health is taken from `previous` (the table a reload replaces) for routes whose
 * origin list is unchanged.
 *
 * @example
 * ```ts
 * const table = compileRoutes(config, new ClientPool());
 * ```
 */
export function compileRoutes(
  config: Config,
  clients: ClientPool,
  previous?: RoutingTable,
): RoutingTable {
  const byListener = new Map<string, { exact: Map<string, RoutePlan[]>; wildcards: Matcher[] }>();
  const routes: RoutePlan[] = [];
  const before = new Map(previous?.routes.map((r) => [r.id, r]));
  for (const route of config.routes) {
    const plan = compileRoute(route, clients, before.get(route.id));
    routes.push(plan);
    const entry = byListener.get(plan.listenerKey) ??
      { exact: new Map<string, RoutePlan[]>(), wildcards: [] as Matcher[] };
    byListener.set(plan.listenerKey, entry);
    for (const raw of route.host_patterns) {
      const pattern = normaliseHost(raw);
      if (!pattern.includes("*")) {
        entry.exact.set(pattern, [...(entry.exact.get(pattern) ?? []), plan]);
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
    // Stable sort: equally specific wildcards keep configuration order.
    entry.wildcards.sort((a, b) => b.specificity - a.specificity);
  }
  const checker = new HealthChecker(routes);
  return {
    routes,
    byListener,
    clients,
    activate() {
      // One table is live at a time: its origins replace the gauges of the previous one.
      liveOrigins.clear();
      originHealthy.reset();
      for (const route of routes) {
        for (const origin of route.origins) liveOrigins.add(origin.health);
      }
      for (const origin of liveOrigins) origin.publish();
      checker.start();
    },
    deactivate() {
      checker.stop();
    },
  };
}

function matchesLabels(pattern: readonly string[], host: readonly string[]): boolean {
  if (pattern.length === 1 && pattern[0] === "*") return true;
  if (pattern.length !== host.length) return false;
  return pattern.every((p, i) => p === "*" || p === host[i]);
}

/**
 * Selects the route for a request: the listener's routes, then the host (exact beats
 * wildcard, the most specific wildcard wins, `*` matches exactly one label and a lone `*`
 * matches any host), then the route's `protocols` allowlist. A candidate whose protocols
 * exclude the request's protocol is skipped, so a less specific route may still match.
 *
 * @example
 * ```ts
 * const route = selectRoute(table, {
 *   listener: "127.0.0.1:8080",
 *   host: "a.vod.example.com",
 *   protocol: "http",
 * });
 * ```
 */
export function selectRoute(table: RoutingTable, query: RouteQuery): RoutePlan | undefined {
  const { listener, host, protocol } = query;
  const entry = table.byListener.get(listener);
  if (!entry) return undefined;
  const allowed = (route: RoutePlan) => protocol === undefined || route.protocols.has(protocol);
  const h = normaliseHost(host);
  const exact = entry.exact.get(h)?.find(allowed);
  if (exact) return exact;
  const labels = h.split(".");
  for (const m of entry.wildcards) {
    if (matchesLabels(m.labels, labels) && allowed(m.route)) return m.route;
  }
  return undefined;
}

/**
 * Like {@linkcode selectRoute}, but a miss is the client error `404 no_route`.
 *
 * @example
 * ```ts
 * const route = requireRoute(table, { listener: "127.0.0.1:8080", host: "tv.example.com" });
 * ```
 */
export function requireRoute(table: RoutingTable, query: RouteQuery): RoutePlan {
  const route = selectRoute(table, query);
  if (!route) {
    const over = query.protocol ? ` over ${query.protocol}` : "";
    throw new ProxyError(404, "no_route", `no route for this host${over}`);
  }
  return route;
}
