/**
 * The health of one origin: passive ejection after consecutive failed attempts (connect
 * errors, timeouts, 5xx), and the verdict of active health checks. One object per origin,
 * shared by the routing tables of successive plans while the route's origin list is
 * unchanged, so a reload neither forgets an ejection nor puts a dead origin back.
 * @module
 */
import { log } from "../telemetry/mod.ts";
import { liveOrigins, originAttempts, originEjections, originHealthy } from "./metrics.ts";

/** Passive ejection settings (`upstream.passive_health`). */
export interface PassiveHealthSettings {
  /** Consecutive failed attempts that eject; 0 never ejects. */
  readonly consecutive_failures: number;
  readonly ejection_ms: number;
}

/** Active check thresholds (`upstream.health_check`). */
export interface ActiveHealthSettings {
  readonly enabled: boolean;
  readonly healthy_threshold: number;
  readonly unhealthy_threshold: number;
}

/** Where an origin stands. */
export type OriginState = "healthy" | "ejected" | "unhealthy";

/** What the admin API and `/ready` see of an origin. */
export interface OriginHealthSnapshot {
  readonly state: OriginState;
  readonly consecutive_failures: number;
  /** Unix milliseconds when a passive ejection ends; `null` when not ejected. */
  readonly ejected_until: number | null;
  readonly ejections: number;
  readonly attempts: number;
  readonly failed_attempts: number;
  /** The last active check, when checks run. */
  readonly last_check:
    | { readonly at: number; readonly ok: boolean; readonly detail: string }
    | null;
}

/**
 * The health of one origin of one route.
 *
 * @example
 * ```ts
 * const health = new OriginHealth("tv", "http://a.example", {
 *   passive: { consecutive_failures: 3, ejection_ms: 10_000 },
 *   active: { enabled: false, healthy_threshold: 2, unhealthy_threshold: 3 },
 * });
 * health.recordFailure("refused");
 * health.available(); // true until the third failure in a row
 * ```
 */
export class OriginHealth {
  /** The route id (metric and log label). */
  readonly routeId: string;
  /** The origin URL (metric and log label). */
  readonly origin: string;
  #passive: PassiveHealthSettings;
  #active: ActiveHealthSettings;
  #now: () => number;
  #consecutiveFailures = 0;
  #ejectedUntil = 0;
  /** After an ejection ends, one failure ejects again until an attempt succeeds. */
  #probation = false;
  #activeHealthy = true;
  #checkPasses = 0;
  #checkFailures = 0;
  #lastCheck: OriginHealthSnapshot["last_check"] = null;
  #ejections = 0;
  #attempts = 0;
  #failedAttempts = 0;
  // This origin's attempt counters, looked up once.
  #succeeded: { inc(): void };
  #failed: { inc(): void };

  constructor(
    routeId: string,
    origin: string,
    settings: { passive: PassiveHealthSettings; active: ActiveHealthSettings },
    now: () => number = Date.now,
  ) {
    this.routeId = routeId;
    this.origin = origin;
    this.#succeeded = originAttempts.labels(routeId, origin, "success");
    this.#failed = originAttempts.labels(routeId, origin, "failure");
    this.#passive = settings.passive;
    this.#active = settings.active;
    this.#now = now;
  }

  /** Applies new settings (a reload that kept the origin); the state is kept. */
  configure(settings: { passive: PassiveHealthSettings; active: ActiveHealthSettings }): void {
    this.#passive = settings.passive;
    this.#active = settings.active;
    // Checks turned off: their verdict no longer holds.
    if (!settings.active.enabled) this.#activeHealthy = true;
    this.#publish();
  }

  /** Whether the origin may take requests now. */
  available(): boolean {
    return this.#activeHealthy && this.#now() >= this.#ejectedUntil;
  }

  /** The state now: `unhealthy` (active checks) wins over `ejected` (passive). */
  state(): OriginState {
    if (!this.#activeHealthy) return "unhealthy";
    return this.#now() < this.#ejectedUntil ? "ejected" : "healthy";
  }

  /** An attempt got a response that is not a 5xx. */
  recordSuccess(): void {
    this.#attempts++;
    this.#succeeded.inc();
    this.#consecutiveFailures = 0;
    this.#probation = false;
  }

  /**
   * An attempt failed (connect error, timeout, 5xx). Ejects the origin after
   * `consecutive_failures` in a row, or at once when it is on probation after an ejection.
   */
  recordFailure(reason: string): void {
    this.#attempts++;
    this.#failed.inc();
    this.#failedAttempts++;
    this.#consecutiveFailures++;
    const threshold = this.#passive.consecutive_failures;
    if (threshold === 0 || this.#now() < this.#ejectedUntil) return;
    if (this.#consecutiveFailures >= threshold || this.#probation) {
      this.#ejectedUntil = this.#now() + this.#passive.ejection_ms;
      this.#probation = true;
      this.#ejections++;
      originEjections.labels(this.routeId, this.origin).inc();
      log("warn", "origin ejected after failed attempts", {
        route: this.routeId,
        origin: this.origin,
        consecutive_failures: this.#consecutiveFailures,
        reason,
        ejection_ms: this.#passive.ejection_ms,
      });
      this.#publish();
    }
  }

  /** The result of one active check. */
  recordCheck(ok: boolean, detail: string): void {
    this.#lastCheck = { at: this.#now(), ok, detail };
    if (ok) {
      this.#checkFailures = 0;
      this.#checkPasses++;
      // A passing check ends a passive ejection (as Envoy does by default): the origin
      // answers again. It stays on probation, so one failed attempt ejects it anew.
      if (this.#now() < this.#ejectedUntil) {
        this.#ejectedUntil = 0;
        log("info", "origin back in rotation (a health check passed)", {
          route: this.routeId,
          origin: this.origin,
        });
      }
      if (!this.#activeHealthy && this.#checkPasses >= this.#active.healthy_threshold) {
        this.#activeHealthy = true;
        log("info", "origin healthy again (active checks)", {
          route: this.routeId,
          origin: this.origin,
          passes: this.#checkPasses,
        });
      }
    } else {
      this.#checkPasses = 0;
      this.#checkFailures++;
      if (this.#activeHealthy && this.#checkFailures >= this.#active.unhealthy_threshold) {
        this.#activeHealthy = false;
        log("warn", "origin unhealthy (active checks)", {
          route: this.routeId,
          origin: this.origin,
          failures: this.#checkFailures,
          detail,
        });
      }
    }
    this.#publish();
  }

  /** A copy of the state for the admin API. */
  snapshot(): OriginHealthSnapshot {
    const now = this.#now();
    return {
      state: this.state(),
      consecutive_failures: this.#consecutiveFailures,
      ejected_until: now < this.#ejectedUntil ? this.#ejectedUntil : null,
      ejections: this.#ejections,
      attempts: this.#attempts,
      failed_attempts: this.#failedAttempts,
      last_check: this.#lastCheck,
    };
  }

  /** Sets the health gauge of an origin of the active plan. */
  #publish(): void {
    if (!liveOrigins.has(this)) return;
    originHealthy.labels(this.routeId, this.origin).set(this.available() ? 1 : 0);
  }

  /** Refreshes the gauge (called before a scrape: ejections end with time). */
  publish(): void {
    this.#publish();
  }
}
