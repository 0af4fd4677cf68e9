/**
 * Active health checks: for every route with `upstream.health_check.enabled`, each origin
 * is asked `GET <path>` every `interval_ms` through the route's own client (SOCKS5, TLS
 * relay and CA bundle apply); a 2xx within `timeout_ms` passes, anything else fails.
 * Checks run only for the active plan: the edge starts them when a plan goes live and
 * stops them when a reload replaces it.
 * @module
 */
import type { RouteConfig } from "../config/mod.ts";
import { log, redactText } from "../telemetry/mod.ts";
import { originHealthChecks } from "./metrics.ts";
import type { OriginPlan } from "./origins.ts";
import { RELAY_ERROR_HEADER, relayUrl } from "./tls_relay.ts";
import { classifyUpstreamError } from "./upstream_failure.ts";

/**
 * The URL a check asks: `path` on the origin's host (the origin's base path is not
 * prepended, so one health path serves origins with different base paths).
 *
 * @example
 * ```ts
 * checkUrl(new URL("https://o.example/vod"), "/health").href; // "https://o.example/health"
 * ```
 */
export function checkUrl(origin: URL, path: string): URL {
  return new URL(path, origin.origin);
}

/** One check of one origin: whether it passed, and what was seen. */
export async function checkOrigin(
  origin: OriginPlan,
  options: { path: string; timeoutMs: number; signal?: AbortSignal },
): Promise<{ ok: boolean; detail: string }> {
  const target = checkUrl(origin.url, options.path);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const response = await fetch(origin.relayed ? relayUrl(target) : target, {
      headers: origin.relayed
        ? { host: target.host, "user-agent": "sprox-health-check" }
        : { "user-agent": "sprox-health-check" },
      client: origin.client,
      redirect: "manual",
      signal,
    });
    await response.body?.cancel().catch(() => {});
    const relayError = origin.relayed ? response.headers.get(RELAY_ERROR_HEADER) : null;
    if (relayError) return { ok: false, detail: relayError };
    const ok = response.status >= 200 && response.status < 300;
    return { ok, detail: `status ${response.status}` };
  } catch (error) {
    if (timeout.aborted) return { ok: false, detail: `no answer within ${options.timeoutMs} ms` };
    const failure = classifyUpstreamError(error);
    return { ok: false, detail: `${failure.kind}: ${redactText(failure.message)}` };
  }
}

/** What the checker reads of a route (a `CheckedRoute` is one). */
export interface CheckedRoute {
  readonly id: string;
  readonly config: RouteConfig;
  readonly origins: readonly OriginPlan[];
}

/** The active checks of one routing table. */
export class HealthChecker {
  #routes: readonly CheckedRoute[];
  #controller = new AbortController();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #running = false;

  /**
   * @example
   * ```ts
   * const checker = new HealthChecker(table.routes);
   * checker.start();
   * checker.stop();
   * ```
   */
  constructor(routes: readonly CheckedRoute[]) {
    this.#routes = routes;
  }

  /** Starts checking (the first round at once). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const route of this.#routes) {
      const settings = route.config.upstream.health_check;
      if (!settings.enabled) continue;
      for (const origin of route.origins) this.#schedule(route, origin, 0);
    }
  }

  /** Stops every check (in-flight ones are aborted and not recorded). */
  stop(): void {
    this.#running = false;
    this.#controller.abort();
    this.#controller = new AbortController();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(route: CheckedRoute, origin: OriginPlan, delayMs: number): void {
    const timer = setTimeout(async () => {
      this.#timers.delete(timer);
      const settings = route.config.upstream.health_check;
      const signal = this.#controller.signal;
      const result = await checkOrigin(origin, {
        path: settings.path,
        timeoutMs: settings.timeout_ms,
        signal,
      });
      if (!this.#running || signal.aborted) return;
      originHealthChecks.labels(route.id, origin.label, result.ok ? "pass" : "fail").inc();
      if (!result.ok) {
        log("debug", "origin health check failed", {
          route: route.id,
          origin: origin.label,
          detail: result.detail,
        });
      }
      origin.health.recordCheck(result.ok, result.detail);
      this.#schedule(route, origin, settings.interval_ms);
    }, delayMs);
    Deno.unrefTimer(timer);
    this.#timers.add(timer);
  }
}
