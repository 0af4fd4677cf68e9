/**
 * The policy step of a request's life: rate limiting, CORS and credential-abuse blocking,
 * compiled once per plan.
 *
 * `applyPolicy()` runs right after the client is identified and may answer on its own
 * (a CORS preflight, a 429); it also binds the client to the request for the credential
 * checks of protected endpoints. `finishPolicy()` decorates whatever response goes out with
 * the CORS and rate-limit fields.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import { type AuthAbuseSettings, AuthFailureTracker } from "./abuse.ts";
import { bindAuthAbuse, type CredentialPolicy } from "./auth.ts";
import {
  applyCorsHeaders,
  compileCors,
  type CorsPolicy,
  isPreflight,
  preflightResponse,
} from "./cors.ts";
import {
  type RateLimitDecision,
  RateLimiter,
  rateLimitFields,
  type RateLimitSettings,
} from "./rate_limit.ts";
import {
  type BucketStore,
  FallbackBucketStore,
  isolateBucketStore,
  RedisBucketStore,
} from "../state/mod.ts";

/** Where the rate-limit key of a request comes from. */
export type RateLimitKeySource = { readonly kind: "ip" } | {
  readonly kind: "header";
  readonly name: string;
};

/** The compiled policy of one plan. */
export interface PolicyPlan {
  /** `null` when `rate_limit.enabled` is false. */
  readonly limiter: RateLimiter | null;
  /**
   * Buckets held outside this isolate: in Redis (`state.redis_url`, with `limiter` as the
   * fallback when Redis fails), or, in a worker isolate (`server.workers`), in the first
   * isolate of the process. `null` otherwise or with the limiter off. The plan closes it on
   * dispose.
   */
  readonly shared: (BucketStore & { close(): void }) | null;
  readonly keySource: RateLimitKeySource;
  /** Exact paths, and prefixes for entries ending in `*`. */
  readonly exempt: { readonly exact: ReadonlySet<string>; readonly prefixes: readonly string[] };
  readonly cors: CorsPolicy;
  /** The API credential of protected endpoints (`/keys*`, `/proxy/*`). */
  readonly credentials: CredentialPolicy;
  /** `null` when `auth_abuse.enabled` is false. */
  readonly authAbuse: AuthFailureTracker | null;
  /** Whether the abuse counters are kept (`telemetry.enabled`). */
  readonly countMetrics: boolean;
}

/** What the policy step decided for one request. */
export interface PolicyOutcome {
  /** A response that ends the request here (preflight, 429). */
  readonly response?: Response;
  /** The rate-limit decision, when the request was subject to the limiter. */
  readonly decision?: RateLimitDecision;
}

/** Longest header value used as a rate-limit key: bounds the memory of one bucket. */
const MAX_KEY_LENGTH = 128;

function sameSettings(a: RateLimitSettings, b: RateLimitSettings): boolean {
  return a.requestsPerSecond === b.requestsPerSecond && a.burst === b.burst &&
    a.maxTrackedClients === b.maxTrackedClients && a.idleEvictSecs === b.idleEvictSecs;
}

function sameAbuseSettings(a: AuthAbuseSettings, b: AuthAbuseSettings): boolean {
  return a.maxFailures === b.maxFailures && a.windowSecs === b.windowSecs &&
    a.blockSecs === b.blockSecs && a.maxTrackedClients === b.maxTrackedClients;
}

/**
 * Compiles the policy of a configuration. When `previous` (the plan being replaced by a
 * reload) has a limiter with the same knobs, its buckets are kept, so a SIGHUP does not
 * hand every client a fresh burst; changed knobs start from empty buckets. The
 * credential-abuse tracker is kept the same way, so a reload does not lift blocks.
 *
 * @example
 * ```ts
 * const policy = compilePolicy(config, previousPlan?.policy);
 * ```
 */
export function compilePolicy(config: Config, previous?: PolicyPlan): PolicyPlan {
  const rl = config.rate_limit;
  const settings: RateLimitSettings = {
    requestsPerSecond: rl.requests_per_second,
    burst: rl.burst,
    maxTrackedClients: rl.max_tracked_clients,
    idleEvictSecs: rl.idle_evict_secs,
  };
  let limiter: RateLimiter | null = null;
  if (rl.enabled) {
    limiter = previous?.limiter && sameSettings(previous.limiter.settings, settings)
      ? previous.limiter
      : new RateLimiter(settings);
  }
  // In a worker isolate the process's buckets are the first isolate's; this isolate's own stand
  // behind them should the message channel fail. With Redis, the process's buckets stand behind
  // Redis (the connection is shared per URL, the buckets live in Redis: a reload loses none).
  const isolate = limiter ? isolateBucketStore(settings) : null;
  const countMetrics = config.telemetry.enabled;
  const processBuckets = isolate && limiter
    ? new FallbackBucketStore(isolate, limiter, { countMetrics })
    : null;
  const shared = limiter && config.state.redis_url
    ? new FallbackBucketStore(
      new RedisBucketStore(config.state.redis_url, settings),
      processBuckets ?? limiter,
      { countMetrics },
    )
    : processBuckets;
  const abuse = config.auth_abuse;
  const abuseSettings: AuthAbuseSettings = {
    maxFailures: abuse.max_failures,
    windowSecs: abuse.window_secs,
    blockSecs: abuse.block_secs,
    maxTrackedClients: abuse.max_tracked_clients,
  };
  let authAbuse: AuthFailureTracker | null = null;
  if (abuse.enabled) {
    authAbuse = previous?.authAbuse && sameAbuseSettings(previous.authAbuse.settings, abuseSettings)
      ? previous.authAbuse
      : new AuthFailureTracker(abuseSettings);
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const path of rl.exempt_paths) {
    if (path.endsWith("*")) prefixes.push(path.replace(/\*+$/, ""));
    else exact.add(path);
  }
  return {
    limiter,
    shared,
    keySource: rl.key === "ip"
      ? { kind: "ip" }
      : { kind: "header", name: rl.key.slice("header:".length).toLowerCase() },
    exempt: { exact, prefixes },
    cors: compileCors(config.cors),
    credentials: {
      apiPassword: config.direct_stream?.api_password ?? null,
      bearerToken: config.auth.bearer_token,
    },
    authAbuse,
    countMetrics: config.telemetry.enabled,
  };
}

/** What the policy step reads of a request. */
export interface PolicyInput {
  readonly request: Request;
  readonly url: URL;
  /** The client address as `/ip` resolves it (forwarding headers only from trusted proxies). */
  readonly clientIp: string;
  readonly requestId: string;
}

/** The bucket key of a request: the configured header when present, else the client IP. */
export function rateLimitKey(source: RateLimitKeySource, input: PolicyInput): string {
  if (source.kind === "header") {
    const value = input.request.headers.get(source.name);
    if (value) return `h:${value.slice(0, MAX_KEY_LENGTH)}`;
  }
  return `ip:${input.clientIp}`;
}

function isExempt(policy: PolicyPlan, pathname: string): boolean {
  return policy.exempt.exact.has(pathname) ||
    policy.exempt.prefixes.some((p) => pathname.startsWith(p));
}

/**
 * Step 2 of a request: binds the client to the request for the credential checks, then the
 * rate limiter, then CORS preflights.
 *
 * @example
 * ```ts
 * const outcome = applyPolicy(plan.policy, { request, url, clientIp, requestId });
 * if (outcome.response) return outcome.response;
 * ```
 */
export function applyPolicy(policy: PolicyPlan, input: PolicyInput): PolicyOutcome {
  bindClient(policy, input);
  let decision: RateLimitDecision | undefined;
  if (policy.limiter && !isExempt(policy, input.url.pathname)) {
    decision = policy.limiter.take(rateLimitKey(policy.keySource, input));
  }
  return afterRateLimit(policy, input, decision);
}

/**
 * {@linkcode applyPolicy} with the rate limiter's buckets held elsewhere (`policy.shared` set:
 * Redis, or the first isolate for a worker isolate): the same steps, the bucket spent with one
 * round trip or message (or locally when that fails).
 *
 * @example
 * ```ts
 * const outcome = plan.policy.shared
 *   ? await applySharedPolicy(plan.policy, input)
 *   : applyPolicy(plan.policy, input);
 * ```
 */
export async function applySharedPolicy(
  policy: PolicyPlan,
  input: PolicyInput,
): Promise<PolicyOutcome> {
  bindClient(policy, input);
  let decision: RateLimitDecision | undefined;
  if (policy.shared && !isExempt(policy, input.url.pathname)) {
    decision = await policy.shared.take(rateLimitKey(policy.keySource, input));
  }
  return afterRateLimit(policy, input, decision);
}

function bindClient(policy: PolicyPlan, input: PolicyInput): void {
  if (policy.authAbuse) {
    bindAuthAbuse(input.request, {
      tracker: policy.authAbuse,
      clientIp: input.clientIp,
      countMetrics: policy.countMetrics,
    });
  }
}

/** The 429 of a refused decision, else the CORS preflight answer, else nothing. */
function afterRateLimit(
  policy: PolicyPlan,
  input: PolicyInput,
  decision: RateLimitDecision | undefined,
): PolicyOutcome {
  if (decision && !decision.allowed) {
    const error = new ProxyError(429, "rate_limited", "too many requests", {
      headers: { "retry-after": String(decision.retryAfterSecs) },
    });
    return { response: errorResponse(error, input.requestId), decision };
  }
  if (isPreflight(input.request)) {
    return { response: preflightResponse(policy.cors, input.request), decision };
  }
  return { decision };
}

/**
 * The last policy step: adds the CORS fields and, for rate-limited requests, `RateLimit`
 * and `RateLimit-Policy`, to the outgoing response's (mutable) headers.
 */
export function finishPolicy(
  policy: PolicyPlan,
  request: Request,
  outcome: PolicyOutcome,
  headers: Headers,
): void {
  if (outcome.decision && policy.limiter) {
    const fields = rateLimitFields(policy.limiter.settings, outcome.decision);
    headers.set("ratelimit-policy", fields.policy);
    headers.set("ratelimit", fields.limit);
  }
  if (!isPreflight(request)) applyCorsHeaders(policy.cors, request, headers);
}
