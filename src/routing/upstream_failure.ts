/**
 * Classifying upstream failures: each cause has its own reason, status, log line and
 * metric label.
 * @module
 */
import { type ErrorReason, ProxyError } from "../errors/mod.ts";

/** Why an upstream exchange failed (metric and log label). */
export type UpstreamFailureKind =
  | "connect_timeout"
  | "timeout"
  | "read_timeout"
  | "refused"
  | "reset"
  | "tls"
  | "socks"
  | "dns"
  | "body_error"
  | "other";

/** An upstream failure with its kind; becomes a {@linkcode ProxyError} for the client. */
export class UpstreamFailure extends Error {
  readonly kind: UpstreamFailureKind;

  /**
   * @example
   * ```ts
   * throw new UpstreamFailure("timeout", "no response headers within 8000 ms");
   * ```
   */
  constructor(kind: UpstreamFailureKind, detail: string, options: { cause?: unknown } = {}) {
    super(detail, options);
    this.name = "UpstreamFailure";
    this.kind = kind;
  }
}

const PATTERNS: readonly [RegExp, UpstreamFailureKind][] = [
  [/auth failure|no acceptable auth|proxy server unreachable|socks/i, "socks"],
  [/connection refused|os error 111/i, "refused"],
  [/certificate|tls|handshake|ssl/i, "tls"],
  [/dns error|failed to lookup|name or service not known|no address/i, "dns"],
  [/reset|os error 104|broken pipe|connection closed|unexpected eof|incomplete/i, "reset"],
];

/** The full text of an error and its causes, for classification and logs. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}

/**
 * Classifies an error thrown by `fetch` or by reading an upstream body.
 *
 * @example
 * ```ts
 * classifyUpstreamError(new TypeError("fetch failed")).kind; // "other"
 * ```
 */
export function classifyUpstreamError(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  const text = describeError(error);
  // URLs in the text (host names, paths) must not decide the kind.
  const bare = text.replace(/[a-z0-9+.-]+:\/\/[^\s)]*/gi, "");
  for (const [pattern, kind] of PATTERNS) {
    if (pattern.test(bare)) return new UpstreamFailure(kind, text, { cause: error });
  }
  return new UpstreamFailure("other", text, { cause: error });
}

const CLIENT_ERRORS: Record<UpstreamFailureKind, [number, ErrorReason, string]> = {
  connect_timeout: [504, "upstream_connect_timeout", "upstream connection timed out"],
  timeout: [504, "upstream_timeout", "upstream did not answer in time"],
  read_timeout: [504, "upstream_read_timeout", "upstream stalled"],
  refused: [502, "upstream_refused", "upstream refused the connection"],
  reset: [502, "upstream_error", "upstream connection failed"],
  tls: [502, "upstream_error", "upstream TLS handshake failed"],
  socks: [502, "upstream_error", "SOCKS5 proxy failed"],
  dns: [502, "upstream_error", "upstream host could not be resolved"],
  body_error: [502, "upstream_error", "upstream body failed"],
  other: [502, "upstream_error", "upstream request failed"],
};

/**
 * The client-facing error for an upstream failure (message never carries upstream details).
 *
 * @example
 * ```ts
 * toProxyError(new UpstreamFailure("refused", "...")).status; // 502
 * ```
 */
export function toProxyError(failure: UpstreamFailure): ProxyError {
  const [status, reason, message] = CLIENT_ERRORS[failure.kind];
  return new ProxyError(status, reason, message, { cause: failure });
}
