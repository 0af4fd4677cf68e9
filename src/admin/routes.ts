/**
 * `GET /admin/routes`: every route of the serving plan with its origins' health and the
 * route's counters, read from the plan and the metrics registry.
 * @module
 */
import type { Plan } from "../app/mod.ts";
import type { OriginHealthSnapshot } from "../routing/mod.ts";
import { type MetricReading, metricsView, redactUrl } from "../telemetry/mod.ts";

/** One origin as the admin API shows it. */
export interface OriginReport {
  readonly url: string;
  readonly priority: number;
  readonly weight: number;
  readonly state: OriginHealthSnapshot["state"];
  readonly consecutive_failures: number;
  /** ISO time at which a passive ejection ends, or `null`. */
  readonly ejected_until: string | null;
  readonly ejections: number;
  readonly attempts: number;
  readonly failed_attempts: number;
  readonly last_check: { at: string; ok: boolean; detail: string } | null;
}

/** One route as the admin API shows it. */
export interface RouteReport {
  readonly id: string;
  readonly listener: string;
  readonly host_patterns: readonly string[];
  /** Whether some origin may take requests (what `/ready` asks of every route). */
  readonly ready: boolean;
  readonly health_check: boolean;
  readonly origins: readonly OriginReport[];
  readonly counters: {
    /** Requests answered, by status class (`2xx`, `5xx`, …). */
    readonly requests: Record<string, number>;
    /** Upstream failures, by reason. */
    readonly upstream_errors: Record<string, number>;
    readonly retries: number;
  };
}

/** A metric's values summed by its `owner` label, then by its `key` label. */
async function sumBy(
  metric: MetricReading | undefined,
  owner: string,
  key: string,
): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  for (const { labels, value } of metric ? (await metric.get()).values : []) {
    const id = String(labels[owner] ?? "");
    const bucket = out.get(id) ?? {};
    const name = String(labels[key] ?? "");
    bucket[name] = (bucket[name] ?? 0) + value;
    out.set(id, bucket);
  }
  return out;
}

/**
 * The routes of `plan` with origin health and counters.
 *
 * @example
 * ```ts
 * const routes = await routesReport(server.plan);
 * ```
 */
export async function routesReport(plan: Plan): Promise<RouteReport[]> {
  // With worker isolates, every isolate's counters added up.
  const view = await metricsView();
  const [requests, errors, retries] = await Promise.all([
    sumBy(view.getSingleMetric("sprox_http_requests_total"), "route", "status_class"),
    sumBy(view.getSingleMetric("sprox_upstream_errors_total"), "scope", "reason"),
    sumBy(view.getSingleMetric("sprox_upstream_retries_total"), "scope", "scope"),
  ]);
  const iso = (ms: number) => new Date(ms).toISOString();
  return plan.routing.routes.map((route) => {
    const origins = route.origins.map((origin): OriginReport => {
      const health = origin.health.snapshot();
      return {
        url: redactUrl(origin.label, { redactDrmEverywhere: true }),
        priority: origin.priority,
        weight: origin.weight,
        state: health.state,
        consecutive_failures: health.consecutive_failures,
        ejected_until: health.ejected_until === null ? null : iso(health.ejected_until),
        ejections: health.ejections,
        attempts: health.attempts,
        failed_attempts: health.failed_attempts,
        last_check: health.last_check === null ? null : {
          at: iso(health.last_check.at),
          ok: health.last_check.ok,
          detail: health.last_check.detail,
        },
      };
    });
    return {
      id: route.id,
      listener: route.listenerKey,
      host_patterns: route.config.host_patterns,
      ready: origins.some((o) => o.state === "healthy"),
      health_check: route.config.upstream.health_check.enabled,
      origins,
      counters: {
        requests: requests.get(route.id) ?? {},
        upstream_errors: errors.get(route.id) ?? {},
        retries: retries.get(route.id)?.[route.id] ?? 0,
      },
    };
  });
}
