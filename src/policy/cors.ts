/**
 * CORS (Fetch standard, "CORS protocol"): allowlists of origins, methods and headers, `*`
 * when a list is empty (spec), preflights answered by sProx itself, and the response
 * fields browsers need to read what players read (Content-Range, Content-Length, ...).
 * @module
 */

/** The compiled `cors` block. */
export interface CorsPolicy {
  /** Lower-cased allowed origins; `null` means any (`*`). */
  readonly origins: ReadonlySet<string> | null;
  /** Upper-cased allowed methods; `null` means any. */
  readonly methods: readonly string[] | null;
  /** Lower-cased allowed request headers; `null` means any. */
  readonly headers: readonly string[] | null;
  readonly exposeHeaders: readonly string[];
  readonly maxAgeSecs: number;
}

/** The `cors` configuration block. */
export interface CorsConfig {
  readonly allow_origins: readonly string[];
  readonly allow_methods: readonly string[];
  readonly allow_headers: readonly string[];
  readonly expose_headers: readonly string[];
  readonly max_age_secs: number;
}

/**
 * Compiles the `cors` block once per plan.
 *
 * @example
 * ```ts
 * const cors = compileCors({ allow_origins: ["https://app.example"], allow_methods: [], allow_headers: [], expose_headers: ["Content-Range"], max_age_secs: 600 });
 * ```
 */
export function compileCors(config: CorsConfig): CorsPolicy {
  const list = <T>(values: readonly string[], f: (s: string) => T): T[] | null =>
    values.length === 0 || values.includes("*") ? null : values.map(f);
  const origins = list(config.allow_origins, (o) => o.toLowerCase().replace(/\/+$/, ""));
  return {
    origins: origins ? new Set(origins) : null,
    methods: list(config.allow_methods, (m) => m.toUpperCase()),
    headers: list(config.allow_headers, (h) => h.toLowerCase()),
    exposeHeaders: [...config.expose_headers],
    maxAgeSecs: config.max_age_secs,
  };
}

/** True when `request` is a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method). */
export function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS" && request.headers.has("origin") &&
    request.headers.has("access-control-request-method");
}

/** Whether an origin is on the allowlist. */
export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  return policy.origins === null || policy.origins.has(origin.toLowerCase());
}

function addVary(headers: Headers, value: string): void {
  const existing = headers.get("vary");
  if (!existing) headers.set("vary", value);
  else if (!existing.toLowerCase().split(/\s*,\s*/).includes(value.toLowerCase())) {
    headers.set("vary", `${existing}, ${value}`);
  }
}

/**
 * Answers a preflight: 204 with the allowed methods and headers and `Access-Control-Max-Age`
 * for an allowed origin; 403 for a refused origin or method (the browser would refuse the
 * actual request anyway; a 403 says why to whoever debugs it).
 *
 * With an empty header list the requested headers are echoed: it means "any", like `*`,
 * and unlike a literal `*` it also covers `Authorization` (Fetch standard, CORS-preflight).
 */
export function preflightResponse(policy: CorsPolicy, request: Request): Response {
  const origin = request.headers.get("origin")!;
  const method = request.headers.get("access-control-request-method")!.toUpperCase();
  const headers = new Headers({ "cache-control": "no-store" });
  addVary(headers, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  const methodAllowed = policy.methods === null || policy.methods.includes(method);
  if (!originAllowed(policy, origin) || !methodAllowed) {
    headers.set("content-type", "application/json");
    const message = methodAllowed ? "origin not allowed" : "method not allowed by CORS policy";
    return new Response(JSON.stringify({ error: "forbidden", message }), { status: 403, headers });
  }
  headers.set("access-control-allow-origin", policy.origins === null ? "*" : origin);
  headers.set("access-control-allow-methods", policy.methods?.join(", ") ?? "*");
  const requested = request.headers.get("access-control-request-headers");
  headers.set(
    "access-control-allow-headers",
    policy.headers?.join(", ") ?? (requested ? requested : "*"),
  );
  headers.set("access-control-max-age", String(policy.maxAgeSecs));
  return new Response(null, { status: 204, headers });
}

/**
 * Adds the CORS response fields to an actual (non-preflight) response, in place: for an
 * allowed origin `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`;
 * `Vary: Origin` always.
 */
export function applyCorsHeaders(policy: CorsPolicy, request: Request, headers: Headers): void {
  const origin = request.headers.get("origin");
  // Even with `*` the answer depends on whether Origin was sent: caches must key on it.
  addVary(headers, "Origin");
  if (origin === null || !originAllowed(policy, origin)) return;
  headers.set("access-control-allow-origin", policy.origins === null ? "*" : origin);
  if (policy.exposeHeaders.length > 0) {
    headers.set("access-control-expose-headers", policy.exposeHeaders.join(", "));
  }
}
