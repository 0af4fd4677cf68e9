/**
 * Retries with exponential backoff and a process-wide retry budget, shared by route
 * upstreams and `/proxy/stream`.
 *
 * Policy (spec): `max_attempts` attempts in all (default 3), backoff from
 * `initial_backoff_ms` doubling up to `max_backoff_ms` (100 ms → 5 s) with ±`jitter`
 * (20 %); only idempotent requests whose body can be replayed; only before the response
 * is handed to the client (an attempt's result is never retried once returned).
 *
 * Budget (spec): over a sliding `window_secs` window (10 s), retries may not exceed
 * `ratio` (20 %) of the requests seen, with a floor of `min_retries_per_sec` (10/s, i.e.
 * 100 per window) so a quiet process can still retry.
 * @module
 */
import type { RetryConfig } from "../config/mod.ts";
import { log } from "../telemetry/mod.ts";
import { retryBudgetExhausted, upstreamRetries } from "./metrics.ts";

/** Settings of a {@linkcode RetryBudget} (the `retry_budget` block). */
export interface RetryBudgetConfig {
  readonly ratio: number;
  readonly window_secs: number;
  readonly min_retries_per_sec: number;
}

/** A sliding-window retry budget; one instance is shared by the whole process. */
export class RetryBudget {
  #config: RetryBudgetConfig;
  #now: () => number;
  /** One bucket per second: [second, requests, retries]. */
  #buckets: [number, number, number][] = [];

  /**
   * @example
   * ```ts
   * const budget = new RetryBudget({ ratio: 0.2, window_secs: 10, min_retries_per_sec: 10 });
   * ```
   */
  constructor(config: RetryBudgetConfig, now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  /** Replaces the settings (on reload); the counts seen so far are kept. */
  configure(config: RetryBudgetConfig): void {
    this.#config = config;
  }

  #bucket(): [number, number, number] {
    const second = Math.floor(this.#now() / 1000);
    const oldest = second - this.#config.window_secs + 1;
    while (this.#buckets.length && this.#buckets[0][0] < oldest) this.#buckets.shift();
    let last = this.#buckets[this.#buckets.length - 1];
    if (!last || last[0] !== second) {
      last = [second, 0, 0];
      this.#buckets.push(last);
    }
    return last;
  }

  /** Counts one request (not one attempt) towards the budget. */
  recordRequest(): void {
    this.#bucket()[1]++;
  }

  /** The retries still allowed in the current window. */
  available(): number {
    this.#bucket();
    let requests = 0;
    let retries = 0;
    for (const [, req, ret] of this.#buckets) {
      requests += req;
      retries += ret;
    }
    const { ratio, window_secs, min_retries_per_sec } = this.#config;
    const allowed = Math.max(ratio * requests, min_retries_per_sec * window_secs);
    return Math.max(0, Math.floor(allowed - retries));
  }

  /** Takes one retry from the budget; `false` when the budget is spent. */
  tryWithdraw(): boolean {
    if (this.available() < 1) return false;
    this.#bucket()[2]++;
    return true;
  }
}

/** The process-wide budget shared by route upstreams and `/proxy/stream`. */
export const processRetryBudget: RetryBudget = new RetryBudget({
  ratio: 0.2,
  window_secs: 10,
  min_retries_per_sec: 10,
});

/**
 * The backoff before attempt `attempt + 1` (attempt counts from 1), with jitter.
 *
 * @example
 * ```ts
 * backoffMs(retryConfig, 1); // ~100 (80..120 with 20 % jitter)
 * ```
 */
export function backoffMs(
  config: RetryConfig,
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(config.max_backoff_ms, config.initial_backoff_ms * 2 ** (attempt - 1));
  const spread = base * config.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

/** What one attempt produced: a result (e.g. a 503 response) or an error. */
export type AttemptOutcome<T> = { result: T; error?: undefined } | {
  result?: undefined;
  error: unknown;
};

/** Options of {@linkcode fetchWithRetry}. */
export interface RetryOptions<T> {
  readonly retry: RetryConfig;
  readonly budget: RetryBudget;
  /** Only idempotent requests with a replayable (or no) body may be retried. */
  readonly idempotent: boolean;
  /** Metric label: a route id, or `direct`. */
  readonly scope: string;
  /** Whether an outcome is worth another attempt (default: any error). */
  readonly shouldRetry?: (outcome: AttemptOutcome<T>) => boolean;
  /** Releases a result that is being retried (e.g. cancels a 503's body). */
  readonly discard?: (result: T) => void;
  /** Called before each retry (after the budget allowed it), for logs. */
  readonly onRetry?: (
    info: { attempt: number; delayMs: number; outcome: AttemptOutcome<T> },
  ) => void;
  /** Aborts waiting between attempts (the client went away). */
  readonly signal?: AbortSignal;
  /** For tests. */
  readonly random?: () => number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it yields an outcome not worth retrying, attempts run out, or the
 * budget refuses. Returns the last result, or throws the last error.
 *
 * @example
 * ```ts
 * const response = await fetchWithRetry((n, signal) => fetch(url, { signal }), {
 *   retry: route.config.upstream.retry,
 *   budget: processRetryBudget,
 *   idempotent: true,
 *   scope: "direct",
 *   shouldRetry: (o) => o.error !== undefined || o.result!.status === 503,
 *   discard: (r) => r.body?.cancel(),
 * });
 * ```
 */
export async function fetchWithRetry<T>(
  attempt: (attemptNumber: number, signal: AbortSignal) => Promise<T>,
  options: RetryOptions<T>,
): Promise<T> {
  const signal = options.signal ?? new AbortController().signal;
  const shouldRetry = options.shouldRetry ?? ((o: AttemptOutcome<T>) => o.error !== undefined);
  options.budget.recordRequest();
  for (let n = 1;; n++) {
    let outcome: AttemptOutcome<T>;
    try {
      outcome = { result: await attempt(n, signal) };
    } catch (error) {
      outcome = { error };
    }
    const last = !options.idempotent || n >= options.retry.max_attempts || signal.aborted ||
      !shouldRetry(outcome);
    if (!last && !options.budget.tryWithdraw()) {
      retryBudgetExhausted.labels(options.scope).inc();
      log("warn", "retry budget exhausted; not retrying", { scope: options.scope, attempt: n });
    } else if (!last) {
      const delayMs = backoffMs(options.retry, n, options.random);
      upstreamRetries.labels(options.scope).inc();
      options.onRetry?.({ attempt: n, delayMs, outcome });
      if (outcome.error === undefined) options.discard?.(outcome.result as T);
      await sleep(delayMs, signal);
      continue;
    }
    if (outcome.error !== undefined) throw outcome.error;
    return outcome.result as T;
  }
}
