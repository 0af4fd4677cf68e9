/**
 * The request gate: the first step of a request's life, before policy and routing, so that a
 * request sProx will not serve never reaches an upstream. It checks the request's shape
 * against `server.limits` (head size, target length, method) and answers the requests sProx
 * handles itself or refuses (`OPTIONS *`, protocol upgrades).
 * @module
 */
import type { Config } from "../config/mod.ts";
import { ProxyError } from "../errors/mod.ts";

/** The methods RFC 9110 §9 defines: refused with 405 when not allowed, others with 501. */
const STANDARD_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
  "TRACE",
  "CONNECT",
]);

/**
 * Never proxied, whatever `allowed_methods` lists: TRACE reflects the request (headers that
 * carry credentials included, RFC 9110 §9.3.8), CONNECT would turn sProx into an open tunnel.
 */
const NEVER_PROXIED: ReadonlySet<string> = new Set(["TRACE", "CONNECT"]);

/** Longest method name served or logged verbatim. */
export const MAX_METHOD_LENGTH = 16;

/** RFC 9110 §5.6.2 `token`: what a method name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The compiled `server.limits` the gate reads. */
export interface RequestGatePlan {
  /** `allowed_methods` without TRACE and CONNECT. */
  readonly allowedMethods: ReadonlySet<string>;
  /** The `Allow` field value: the allowed methods in configuration order. */
  readonly allow: string;
  readonly maxUrlBytes: number;
  readonly maxHeaderBytes: number;
}

/**
 * Compiles the `server.limits` block for the gate.
 *
 * @example
 * ```ts
 * const gate = compileRequestGate(config.server.limits);
 * gate.allowedMethods.has("GET"); // true
 * ```
 */
export function compileRequestGate(limits: Config["server"]["limits"]): RequestGatePlan {
  const methods = [...new Set(limits.allowed_methods)].filter((m) => !NEVER_PROXIED.has(m));
  return {
    allowedMethods: new Set(methods),
    allow: methods.join(", "),
    maxUrlBytes: limits.max_url_bytes,
    maxHeaderBytes: limits.max_header_bytes,
  };
}

/**
 * The method as a log field: a method longer than {@linkcode MAX_METHOD_LENGTH} or not a token
 * is cut to its first characters and marked with `…`, so a hostile method never reaches a log
 * line whole.
 *
 * @example
 * ```ts
 * loggedMethod("GET"); // "GET"
 * loggedMethod("X".repeat(1000)); // "XXXXXXXXXXXXXXXX…"
 * ```
 */
export function loggedMethod(method: string): string {
  if (method.length <= MAX_METHOD_LENGTH && TOKEN.test(method)) return method;
  return `${method.slice(0, MAX_METHOD_LENGTH).replace(/[^\x21-\x7e]/g, "?")}…`;
}

/**
 * The size of a request head as the gate counts it: method, target, and for every field its
 * name, value and 4 bytes (`: ` and CRLF). The runtime hands over fields of the same name
 * joined by `, `, so repeated fields count a little less than on the wire.
 */
export function requestHeadBytes(method: string, target: number, headers: Headers): number {
  let bytes = method.length + target;
  // `forEach`, not `for…of`: no iterator result per field (this runs on every request).
  headers.forEach((value, name) => {
    bytes += name.length + value.length + 4;
  });
  return bytes;
}

/**
 * Whether an `Upgrade` field asks for anything other than `h2c`. An `h2c` upgrade (curl
 * `--http2` on `http://`) is ignored and the request served over HTTP/1.1, as RFC 9113 §3.1
 * allows; every other protocol (WebSocket above all) is refused.
 */
function upgradeRefused(upgrade: string | null): boolean {
  if (upgrade === null) return false;
  return upgrade.split(",").some((p) => {
    const protocol = p.trim().toLowerCase();
    return protocol !== "" && protocol !== "h2c";
  });
}

/** What the gate decided: an answer that ends the request, or `undefined` to go on. */
export type GateDecision = ProxyError | Response | undefined;

/**
 * Checks a request against the gate. Order: head size (431), target length (414), method
 * (501 for a method too long or not a token, 405 with `Allow` for a standard method not
 * allowed, 501 for any other), protocol upgrade (501), then `OPTIONS *`, answered here with
 * 200 and `Allow` (it asks about the server, not a resource, RFC 9110 §9.3.7).
 *
 * The runtime presents the asterisk-form target `OPTIONS * HTTP/1.1` as the path `/*`, the
 * same as `OPTIONS /* HTTP/1.1`; both are answered here and neither is forwarded.
 *
 * @example
 * ```ts
 * const decision = checkRequest(plan.gate, request, new URL(request.url));
 * if (decision instanceof ProxyError) return errorResponse(decision);
 * ```
 */
export function checkRequest(gate: RequestGatePlan, request: Request, url: URL): GateDecision {
  const method = request.method;
  const target = url.pathname.length + url.search.length;
  if (requestHeadBytes(method, target, request.headers) > gate.maxHeaderBytes) {
    return new ProxyError(
      431,
      "request_header_fields_too_large",
      "request header fields too large",
    );
  }
  if (target > gate.maxUrlBytes) {
    return new ProxyError(414, "uri_too_long", "request target too long");
  }
  if (!gate.allowedMethods.has(method)) {
    // Allowed methods are short upper-case tokens, so a method too long or not a token is
    // never among them and ends here as 501 (not a standard method either).
    if (STANDARD_METHODS.has(method)) {
      return new ProxyError(405, "method_not_allowed", "method not allowed", {
        headers: { allow: gate.allow },
      });
    }
    return new ProxyError(501, "method_not_implemented", "method not implemented");
  }
  if (upgradeRefused(request.headers.get("upgrade"))) {
    return new ProxyError(501, "upgrade_not_supported", "protocol upgrades are not supported");
  }
  if (method === "OPTIONS" && url.pathname === "/*" && url.search === "") {
    return new Response(null, { status: 200, headers: { allow: gate.allow } });
  }
  return undefined;
}
