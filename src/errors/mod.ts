/**
 * The one error type of the request path. The reason labels metrics and log lines; the
 * message is safe to show to clients (it never carries upstream details or secrets).
 * @module
 */

/** Why a request failed; a closed set shared by responses, logs and metrics. */
export type ErrorReason =
  | "bad_request"
  | "bad_override"
  | "not_found"
  | "no_route"
  | "protocol_denied"
  | "method_not_allowed"
  | "method_not_implemented"
  | "uri_too_long"
  | "request_header_fields_too_large"
  | "upgrade_not_supported"
  | "client_closed"
  | "unauthorized"
  | "forbidden"
  | "allowlist_denied"
  | "ambiguous_path"
  | "content_type_denied"
  | "private_network"
  | "rate_limited"
  | "auth_blocked"
  | "too_many_requests_in_flight"
  | "telemetry_disabled"
  | "upstream_connect_timeout"
  | "upstream_timeout"
  | "upstream_read_timeout"
  | "upstream_refused"
  | "upstream_error"
  | "upstream_bad_response"
  | "retry_budget_exhausted"
  | "too_many_redirects"
  | "manifest_too_large"
  | "manifest_invalid"
  | "insecure_reference"
  | "cross_origin_reference"
  | "segment_invalid"
  | "segment_too_large"
  | "key_unavailable"
  | "internal";

/** A request failure with its HTTP status, reason and client-safe message. */
export class ProxyError extends Error {
  readonly status: number;
  readonly reason: ErrorReason;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @example
   * ```ts
   * throw new ProxyError(403, "allowlist_denied", "destination is not allowlisted");
   * ```
   */
  constructor(
    status: number,
    reason: ErrorReason,
    message: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ProxyError";
    this.status = status;
    this.reason = reason;
    this.headers = options.headers ?? {};
  }
}

/**
 * The small JSON body every error response carries: `{"error": reason, "message": text}`.
 *
 * @example
 * ```ts
 * const response = errorResponse(new ProxyError(404, "no_route", "no route for this host"));
 * ```
 */
export function errorResponse(error: ProxyError, requestId?: string): Response {
  const body = JSON.stringify({
    error: error.reason,
    message: error.message,
    request_id: requestId,
  });
  return new Response(body, {
    status: error.status,
    headers: { "content-type": "application/json", ...error.headers },
  });
}
