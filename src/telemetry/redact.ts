/**
 * Redaction of what log lines carry: query values that look like credentials or DRM
 * identifiers, sensitive headers, and URLs inside free text. Pure functions over values.
 * @module
 */

/** What replaces a redacted value. */
export const REDACTED = "[REDACTED]";

/**
 * Query names whose values are credentials, redacted on every path whatever the
 * configuration says (`api_password`, `token`, `key`, `sig`, `signature`, CDN tokens, ...).
 * Matched on the name lower-cased with `-` and `_` removed, so `h_authorization`,
 * `X-Amz-Signature` and `access_token` are caught too.
 */
const CREDENTIAL_NAME =
  /pass|pwd|token|secret|key|auth|credential|session|signature|^sig$|sign$|jwt|bearer|cookie|hdnts|hdnea|policy|hmac|otp$/;

/** Query names carrying DRM identifiers (spec: `kid` and `sig` on DRM routes). */
const DRM_NAME = /^(kids?|keyids?|pssh|iv|sig)$/;

/** Request and response headers never logged verbatim unless `log_sensitive_headers`. */
export const SENSITIVE_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-sprox-api-password",
  "x-api-key",
  "x-auth-token",
]);

/** Headers whose values are URLs: their queries are redacted like the request's. */
const URL_HEADERS = new Set(["referer", "origin", "location", "content-location"]);

/** How query values are redacted. */
export interface QueryRedaction {
  /** Redact DRM identifiers (`kid`, `sig`, `pssh`, ...) on every path, not only on `/keys*`. */
  readonly redactDrmEverywhere: boolean;
}

/** True for `/keys` and everything under it: the DRM routes. */
export function isDrmPath(pathname: string): boolean {
  return pathname === "/keys" || pathname.startsWith("/keys/");
}

/** A signed-URL token carried as a path segment (`/_token_<t>/proxy/stream…`). */
const TOKEN_SEGMENT = /\/_token_[^/?#]*/g;

/**
 * Redacts `/_token_<t>` path segments: a signed URL's token is a bearer capability.
 *
 * @example
 * ```ts
 * redactPath("/_token_AbC/proxy/stream"); // "/_token_[REDACTED]/proxy/stream"
 * ```
 */
export function redactPath(path: string): string {
  return path.indexOf("/_token_") < 0 ? path : path.replace(TOKEN_SEGMENT, `/_token_${REDACTED}`);
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

/** Whether a query parameter's value must be hidden. */
export function isSensitiveQueryName(name: string, drm: boolean): boolean {
  const normalised = normaliseName(safeDecode(name));
  return CREDENTIAL_NAME.test(normalised) || (drm && DRM_NAME.test(normalised));
}

/**
 * Redacts a raw query string (without `?`), keeping everything else byte for byte.
 * Values that are themselves URLs (the `d` of `/proxy/stream`) are redacted recursively.
 */
export function redactQuery(query: string, drm: boolean, depth = 0): string {
  if (query === "") return query;
  return query.split("&").map((part) => {
    const eq = part.indexOf("=");
    if (eq < 0) return part;
    const name = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (isSensitiveQueryName(name, drm)) return `${name}=${REDACTED}`;
    const decoded = safeDecode(value);
    if (depth < 3 && /^https?:\/\//i.test(decoded)) {
      const inner = redactUrl(decoded, { redactDrmEverywhere: drm }, depth + 1);
      if (inner !== decoded) return `${name}=${encodeURIComponent(inner)}`;
    }
    return part;
  }).join("&");
}

/**
 * Redacts an absolute or origin-relative URL: userinfo and sensitive query values.
 *
 * @example
 * ```ts
 * redactUrl("https://u:p@cdn.example/a.m3u8?token=abc&x=1", { redactDrmEverywhere: true });
 * // "https://[REDACTED]@cdn.example/a.m3u8?token=[REDACTED]&x=1"
 * ```
 */
export function redactUrl(url: string, options: QueryRedaction, depth = 0): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(url);
  if (!match) return redactPathAndQuery(url, options, depth);
  const [, scheme, userinfo, rest, search] = match;
  const path = rest.slice(rest.indexOf("/") >= 0 ? rest.indexOf("/") : rest.length);
  const drm = options.redactDrmEverywhere || isDrmPath(path);
  return `${scheme}${userinfo ? `${REDACTED}@` : ""}${redactPath(rest)}${
    search ? `?${redactQuery(search.slice(1), drm, depth)}` : ""
  }`;
}

/**
 * Redacts a request target (`/path?query`) for the request log line: signed-URL tokens in
 * the path, credentials in the query. On DRM paths the DRM identifiers are always redacted;
 * elsewhere when `redactDrmEverywhere`.
 *
 * @example
 * ```ts
 * redactPathAndQuery("/keys/clearkey?kid=abc&api_password=x", { redactDrmEverywhere: false });
 * // "/keys/clearkey?kid=[REDACTED]&api_password=[REDACTED]"
 * ```
 */
export function redactPathAndQuery(target: string, options: QueryRedaction, depth = 0): string {
  const q = target.indexOf("?");
  const path = redactPath(q < 0 ? target : target.slice(0, q));
  if (q < 0) return path;
  const drm = options.redactDrmEverywhere || isDrmPath(path);
  return `${path}?${redactQuery(target.slice(q + 1), drm, depth)}`;
}

/**
 * The headers as a plain object for a log line: sensitive ones replaced by
 * {@linkcode REDACTED} unless `logSensitive`, URL-valued ones with redacted queries.
 *
 * @example
 * ```ts
 * redactHeaders(new Headers({ cookie: "a=b" }), { logSensitive: false }); // { cookie: "[REDACTED]" }
 * ```
 */
export function redactHeaders(
  headers: Headers,
  options: { logSensitive: boolean },
): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (options.logSensitive) out[name] = value;
    else if (SENSITIVE_HEADERS.has(name) || CREDENTIAL_NAME.test(normaliseName(name))) {
      out[name] = REDACTED;
    } else if (URL_HEADERS.has(name)) {
      out[name] = redactUrl(value, { redactDrmEverywhere: true });
    } else out[name] = value;
  });
  return out;
}

/**
 * Redacts every URL inside free text (error messages often quote the URL they failed on),
 * and `Bearer` tokens.
 *
 * @example
 * ```ts
 * redactText("error sending request for url (http://o/x?token=1)");
 * // "error sending request for url (http://o/x?token=[REDACTED])"
 * ```
 */
export function redactText(text: string): string {
  return text
    .replace(
      /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi,
      (url) => redactUrl(url, { redactDrmEverywhere: true }),
    )
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`)
    .replace(TOKEN_SEGMENT, `/_token_${REDACTED}`);
}
