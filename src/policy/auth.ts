/**
 * The API credential of protected endpoints (`/proxy/*`, `/keys*`): the `api_password`
 * shared secret (header `x-sprox-api-password` or query `api_password`) and, when
 * `auth.bearer_token` / `SPROX_API_PASSWORD` is set, `Authorization: Bearer <token>`.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";

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

/**
 * Checks the request's credentials. Missing credential → 401, wrong credential → 403.
 * When both secrets are configured, both must be presented.
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
): Promise<void> {
  if (policy.bearerToken !== null) {
    const header = request.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) {
      throw new ProxyError(401, "unauthorized", "missing bearer token", {
        headers: { "www-authenticate": 'Bearer realm="sprox"' },
      });
    }
    if (!(await secretsEqual(match[1].trim(), policy.bearerToken))) {
      throw new ProxyError(403, "forbidden", "invalid credential");
    }
  }
  if (policy.apiPassword !== null) {
    const given = request.headers.get("x-sprox-api-password") ??
      url.searchParams.get("api_password");
    if (given === null) throw new ProxyError(401, "unauthorized", "missing api password");
    if (!(await secretsEqual(given, policy.apiPassword))) {
      throw new ProxyError(403, "forbidden", "invalid credential");
    }
  }
}
