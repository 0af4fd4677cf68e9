/**
 * The API credential of protected endpoints (`/proxy/*`, `/keys*`): the `api_password`
 * shared secret (header `x-sprox-api-password` or `api_password`, or query `api_password`) and, when
 * `auth.bearer_token` / `SPROX_API_PASSWORD` is set, `Authorization: Bearer <token>`.
 *
 * Every credential check goes through {@linkcode checkCredentials}, wherever the endpoint
 * lives; the policy step binds the request's client and the abuse tracker to the request
 * ({@linkcode bindAuthAbuse}), so wrong credentials are counted and blocked clients refused
 * on every protected endpoint, and on any credential form added here later.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { authAbuseKey, type AuthFailureTracker } from "./abuse.ts";
import { authBlocks, authFailures, log } from "../telemetry/mod.ts";

const encoder = new TextEncoder();

/**
 * Compares two secrets in time independent of where they differ (length is not hidden:
 * both sides are hashed first, so only equality is observable).
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** What a protected endpoint requires. */
export interface CredentialPolicy {
  /** Shared secret from `direct_stream.api_password` (header or query). */
  readonly apiPassword: string | null;
  /** Bearer token from `auth.bearer_token` / `SPROX_API_PASSWORD`. */
  readonly bearerToken: string | null;
}

/** The abuse tracker and the client of one request, bound by the policy step. */
export interface AuthAbuseBinding {
  readonly tracker: AuthFailureTracker;
  /** The client IP as `/ip` resolves it. */
  readonly clientIp: string;
  /** Whether `telemetry.enabled` is on (the counters are kept). */
  readonly countMetrics: boolean;
}

const bindings = new WeakMap<Request, AuthAbuseBinding>();

/**
 * Binds the abuse tracker and the client of `request` for {@linkcode checkCredentials}. A
 * request is bound once, by the policy step; a credential check on a request that was not
 * bound counts nothing.
 */
export function bindAuthAbuse(request: Request, binding: AuthAbuseBinding): void {
  bindings.set(request, binding);
}

/**
 * Refuses the request (429 `auth_blocked`, `Retry-After`) when its client is blocked; call
 * it before comparing a credential. {@linkcode checkCredentials} does; a credential form
 * checked elsewhere (a signed URL, say) calls it and {@linkcode refuseWrongCredential}.
 */
export function refuseIfBlocked(request: Request): void {
  const binding = bindings.get(request);
  if (!binding) return;
  const blockedSecs = binding.tracker.blockedFor(authAbuseKey(binding.clientIp));
  if (blockedSecs === 0) return;
  throw new ProxyError(429, "auth_blocked", "too many failed authentication attempts", {
    headers: { "retry-after": String(blockedSecs) },
  });
}

/**
 * Counts a wrong credential of the request's client (the failure that reaches
 * `auth_abuse.max_failures` starts a block and logs one warning), then refuses the request
 * with 403.
 */
export function refuseWrongCredential(request: Request): never {
  const binding = bindings.get(request);
  if (binding) {
    const outcome = binding.tracker.recordFailure(authAbuseKey(binding.clientIp));
    if (binding.countMetrics) authFailures.inc();
    if (outcome.blockSecs !== undefined) {
      if (binding.countMetrics) authBlocks.inc();
      log("warn", "client blocked after repeated authentication failures", {
        client_ip: binding.clientIp,
        failures: outcome.failures,
        block_secs: outcome.blockSecs,
      });
    }
  }
  throw new ProxyError(403, "forbidden", "invalid credential");
}

/**
 * The token of an `Authorization: Bearer <token>` field (scheme case-insensitive, blanks around
 * the token ignored), or `null` when the field is absent or of another scheme.
 *
 * @example
 * ```ts
 * bearerToken(new Request("http://s/", { headers: { authorization: "Bearer abc" } })); // "abc"
 * ```
 */
export function bearerToken(request: Request): string | null {
  const match = /^Bearer[ \t]+(\S(?:.*\S)?)[ \t]*$/i.exec(
    request.headers.get("authorization") ?? "",
  );
  return match ? match[1] : null;
}

/**
 * Checks the request's credentials. Missing credential → 401, wrong credential → 403.
 * When both secrets are configured, both must be presented. A client blocked for repeated
 * wrong credentials gets 429 `auth_blocked` with `Retry-After` before any comparison, even
 * with the right credential; a missing credential is not a failure (it guesses nothing).
 *
 * The API password is read from the `x-sprox-api-password` header, then the `api_password`
 * header and query parameter (MediaFlow clients send either), then `presented` (a request
 * body's `api_password`, for `/generate_url`).
 *
 * @example
 * ```ts
 * await checkCredentials(request, url, { apiPassword: "s3cret", bearerToken: null });
 * ```
 */
export async function checkCredentials(
  request: Request,
  url: URL,
  policy: CredentialPolicy,
  presented: { readonly apiPassword?: string | null } = {},
): Promise<void> {
  if (policy.bearerToken === null && policy.apiPassword === null) return;
  refuseIfBlocked(request);
  if (policy.bearerToken !== null) {
    const token = bearerToken(request);
    if (token === null) {
      throw new ProxyError(401, "unauthorized", "missing bearer token", {
        headers: { "www-authenticate": 'Bearer realm="sprox"' },
      });
    }
    if (!(await secretsEqual(token, policy.bearerToken))) refuseWrongCredential(request);
  }
  if (policy.apiPassword !== null) {
    const given = request.headers.get("x-sprox-api-password") ??
      request.headers.get("api_password") ?? url.searchParams.get("api_password") ??
      presented.apiPassword ?? null;
    if (given === null) throw new ProxyError(401, "unauthorized", "missing api password");
    if (!(await secretsEqual(given, policy.apiPassword))) refuseWrongCredential(request);
  }
}
