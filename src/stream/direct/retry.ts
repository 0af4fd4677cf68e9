/**
 * Retries of `/proxy/stream` upstream attempts: the configured policy (attempts, doubling
 * backoff, jitter) bounded by a process-wide budget. One entry point,
 * {@linkcode fetchAttempts}, so a shared implementation can replace this one.
 * @module
 */
import type { Config, RetryConfig } from "../../config/mod.ts";

/**
 * The retry budget: over a sliding window, retries may not exceed `ratio` of requests,
 * except that `min_retries_per_sec × window_secs` retries are always allowed.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #windowMs: number;
  readonly #floor: number;
  #requests: number[] = [];
  #retries: number[] = [];

  /** Builds a budget from the `retry_budget` block. */
  constructor(config: Config["retry_budget"]) {
    this.#ratio = config.ratio;
    this.#windowMs = config.window_secs * 1000;
    this.#floor = config.min_retries_per_sec * config.window_secs;
  }

  /** Records a first attempt. */
  recordRequest(now: number = Date.now()): void {
    this.#prune(now);
    this.#requests.push(now);
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(now: number = Date.now()): boolean {
    this.#prune(now);
    const allowed = Math.max(this.#floor, Math.floor(this.#requests.length * this.#ratio));
    if (this.#retries.length >= allowed) return false;
    this.#retries.push(now);
    return true;
  }

  #prune(now: number): void {
    const cutoff = now - this.#windowMs;
    while (this.#requests.length && this.#requests[0] < cutoff) this.#requests.shift();
    while (this.#retries.length && this.#retries[0] < cutoff) this.#retries.shift();
  }
}

/** The delay before retry number `retry` (1-based): doubling, capped, with jitter. */
export function backoffMs(policy: RetryConfig, retry: number, random = Math.random): number {
  const base = Math.min(policy.max_backoff_ms, policy.initial_backoff_ms * 2 ** (retry - 1));
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}

/** Why {@linkcode fetchAttempts} gave up. */
export class AttemptsExhausted extends Error {
  /** Whether the budget (rather than the attempt count) stopped the retries. */
  readonly budgetSpent: boolean;
  /** @param last the last attempt's error */
  constructor(last: unknown, budgetSpent: boolean) {
    super("upstream attempts exhausted", { cause: last });
    this.name = "AttemptsExhausted";
    this.budgetSpent = budgetSpent;
  }
}

/**
 * Runs `attempt` until it resolves, retrying on rejection (transport failures: connect,
 * TLS, timeout) per `policy` while `budget` allows and `isRetryable` agrees.
 *
 * @example
 * ```ts
 * const response = await fetchAttempts(() => fetch(url), { policy, budget });
 * ```
 */
export async function fetchAttempts<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: {
    policy: RetryConfig;
    budget: RetryBudget;
    isRetryable?: (error: unknown) => boolean;
  },
): Promise<T> {
  options.budget.recordRequest();
  for (let n = 1;; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (options.isRetryable && !options.isRetryable(error)) throw error;
      if (n >= options.policy.max_attempts) throw new AttemptsExhausted(error, false);
      if (!options.budget.tryRetry()) throw new AttemptsExhausted(error, true);
      await new Promise((resolve) => setTimeout(resolve, backoffMs(options.policy, n)));
    }
  }
}
