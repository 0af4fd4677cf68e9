/**
 * A route's origins: one (`upstream.origin`) or a failover set (`upstream.origins`, each
 * with a priority and a weight). Each origin has its own HTTP client (a TLS relay names one
 * host) and its own health; an attempt goes to a healthy origin of the best priority,
 * chosen by weight, and a retry to one the request has not tried yet.
 * @module
 */
import type { RouteConfig } from "../config/mod.ts";
import { type ClientPool, clientSettings, firstHop } from "./clients.ts";
import { OriginHealth } from "./origin_health.ts";

/** One origin as configured, whichever form the route used. */
export interface OriginSpec {
  readonly url: string;
  readonly priority: number;
  readonly weight: number;
}

/** One compiled origin of a route. */
export interface OriginPlan {
  readonly url: URL;
  /** The URL as written in the configuration: the metric and log label. */
  readonly label: string;
  readonly priority: number;
  readonly weight: number;
  /** The shared upstream client for the route's TLS and SOCKS5 settings towards this origin. */
  readonly client: Deno.HttpClient;
  /** Whether the client reaches the origin through the loopback TLS relay. */
  readonly relayed: boolean;
  /** The first network hop (the origin, or the SOCKS5 proxy), for the connect probe. */
  readonly hop: { readonly hostname: string; readonly port: number };
  readonly health: OriginHealth;
}

/**
 * The origins of a route's `upstream` block: `origins` when listed, else `origin` alone.
 *
 * @example
 * ```ts
 * originsOf({ origin: "http://a.example", origins: [] }); // [{ url: "http://a.example", priority: 0, weight: 1 }]
 * ```
 */
export function originsOf(
  upstream: Pick<RouteConfig["upstream"], "origin" | "origins">,
): OriginSpec[] {
  if (upstream.origins.length > 0) {
    return upstream.origins.map((o) => ({ url: o.url, priority: o.priority, weight: o.weight }));
  }
  return upstream.origin === null ? [] : [{ url: upstream.origin, priority: 0, weight: 1 }];
}

function healthSettings(route: RouteConfig) {
  return { passive: route.upstream.passive_health, active: route.upstream.health_check };
}

/**
 * Compiles the origins of `route`. When `previous` (the same route in the plan being
 * replaced) had the same origin URLs in the same order, their health objects are kept.
 */
export function compileOrigins(
  route: RouteConfig,
  clients: ClientPool,
  previous?: readonly OriginPlan[],
): OriginPlan[] {
  const specs = originsOf(route.upstream);
  const sameList = previous !== undefined && previous.length === specs.length &&
    previous.every((p, i) => p.label === specs[i].url);
  return specs.map((spec, i) => {
    const settings = clientSettings(route, spec.url);
    let health: OriginHealth;
    if (sameList) {
      health = previous[i].health;
      health.configure(healthSettings(route));
    } else health = new OriginHealth(route.id, spec.url, healthSettings(route));
    return {
      url: new URL(spec.url),
      label: spec.url,
      priority: spec.priority,
      weight: spec.weight,
      client: clients.clientFor(settings),
      relayed: settings.relay !== null,
      hop: firstHop(route, spec.url),
      health,
    };
  });
}

/**
 * The origin for the next attempt of a request that has tried `tried`: a healthy origin
 * not tried yet, of the best (lowest) priority, chosen by weight; when every healthy
 * origin was tried, the best healthy one again; when none is healthy, the untried ones
 * (then all) by priority, so a wrong verdict never blackholes a route.
 *
 * @example
 * ```ts
 * const origin = pickOrigin(route.origins, new Set());
 * ```
 */
export function pickOrigin(
  origins: readonly OriginPlan[],
  tried: ReadonlySet<OriginPlan>,
  random: () => number = Math.random,
): OriginPlan {
  if (origins.length === 1) return origins[0];
  const healthy = origins.filter((o) => o.health.available());
  let pool = healthy.filter((o) => !tried.has(o));
  if (pool.length === 0) pool = healthy;
  if (pool.length === 0) pool = origins.filter((o) => !tried.has(o));
  if (pool.length === 0) pool = [...origins];
  const best = Math.min(...pool.map((o) => o.priority));
  const group = pool.filter((o) => o.priority === best);
  let left = random() * group.reduce((sum, o) => sum + o.weight, 0);
  for (const origin of group) {
    left -= origin.weight;
    if (left < 0) return origin;
  }
  return group[group.length - 1];
}
