/**
 * HTTP/3 messages (RFC 9114 §4): request field sections checked and turned into the parts
 * of a `Request`, and a `Response` turned into its field section. Pure functions.
 * @module
 */
import type { FieldLine } from "./qpack.ts";

/** A request the stream cannot carry: answered with `status` (and not handed to the app). */
export class MalformedRequest extends Error {
  constructor(readonly status: 400 | 501, message: string) {
    super(message);
    this.name = "MalformedRequest";
  }
}

/** The parts of a request head. */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /** The `content-length` value, when present. */
  readonly contentLength: number | undefined;
}

/** Fields that HTTP/3 forbids (RFC 9114 §4.2): connection-specific, HTTP/1.1 only. */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/** Methods the fetch API refuses to build a `Request` for; sProx does not serve them. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * Checks a request field section and returns its head (RFC 9114 §4.1.2, §4.2, §4.3.1).
 * Throws {@linkcode MalformedRequest}: 400 for a malformed request, 501 for CONNECT and the
 * methods a `Request` cannot carry.
 *
 * @example
 * ```ts
 * requestHead([[":method", "GET"], [":scheme", "https"], [":authority", "a.test"], [":path", "/"]]);
 * ```
 */
export function requestHead(fields: readonly FieldLine[]): RequestHead {
  const pseudo = new Map<string, string>();
  const headers = new Headers();
  const cookies: string[] = [];
  let regularSeen = false;
  for (const [name, value] of fields) {
    if (name.startsWith(":")) {
      if (regularSeen) throw new MalformedRequest(400, "pseudo-header after a regular field");
      if (![":method", ":scheme", ":authority", ":path", ":protocol"].includes(name)) {
        throw new MalformedRequest(400, `unknown pseudo-header ${name}`);
      }
      if (pseudo.has(name)) throw new MalformedRequest(400, `repeated ${name}`);
      pseudo.set(name, value);
      continue;
    }
    regularSeen = true;
    if (!TOKEN.test(name)) throw new MalformedRequest(400, "invalid field name");
    if (BAD_VALUE.test(value)) throw new MalformedRequest(400, `invalid value of ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) {
      throw new MalformedRequest(400, `connection-specific field ${name}`);
    }
    if (name === "te" && value.toLowerCase() !== "trailers") {
      throw new MalformedRequest(400, "te other than trailers");
    }
    // RFC 9114 §4.2.1: split cookie lines are joined with "; ".
    if (name === "cookie") cookies.push(value);
    else headers.append(name, value);
  }
  if (cookies.length > 0) headers.set("cookie", cookies.join("; "));
  const method = pseudo.get(":method");
  if (!method) throw new MalformedRequest(400, "missing :method");
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
    throw new MalformedRequest(400, "invalid :method");
  }
  if (FORBIDDEN_METHODS.has(method.toUpperCase()) || pseudo.has(":protocol")) {
    throw new MalformedRequest(501, `${method} is not supported`);
  }
  const scheme = pseudo.get(":scheme");
  const path = pseudo.get(":path");
  if (!scheme || !path) throw new MalformedRequest(400, "missing :scheme or :path");
  if (scheme !== "https" && scheme !== "http") {
    throw new MalformedRequest(400, `unsupported :scheme ${scheme}`);
  }
  if (!path.startsWith("/")) throw new MalformedRequest(400, "invalid :path");
  // §4.3.1: :authority or Host; when both are present they must agree.
  const authority = pseudo.get(":authority");
  const host = headers.get("host");
  if (authority !== undefined && host !== null && authority !== host) {
    throw new MalformedRequest(400, ":authority and host differ");
  }
  const target = authority ?? host;
  if (!target || /[@/\\?#\s]/.test(target)) throw new MalformedRequest(400, "invalid :authority");
  if (host === null) headers.set("host", target);
  let url: string;
  try {
    url = new URL(`${scheme}://${target}${path}`).href;
  } catch {
    throw new MalformedRequest(400, "invalid request target");
  }
  const length = headers.get("content-length");
  let contentLength: number | undefined;
  if (length !== null) {
    if (!/^\d{1,15}$/.test(length)) throw new MalformedRequest(400, "invalid content-length");
    contentLength = Number(length);
  }
  return { method, url, headers, contentLength };
}

/**
 * The field section of a response: `:status`, then its header fields without the
 * connection-specific ones HTTP/3 forbids.
 *
 * @example
 * ```ts
 * responseFields(new Response("hi", { headers: { "content-type": "text/plain" } }));
 * // [[":status", "200"], ["content-type", "text/plain;charset=UTF-8"]]
 * ```
 */
export function responseFields(response: Response): FieldLine[] {
  const fields: FieldLine[] = [[":status", String(response.status)]];
  response.headers.forEach((value, name) => {
    if (!CONNECTION_SPECIFIC.has(name)) fields.push([name, value]);
  });
  return fields;
}

/** Whether a response to `method` with `status` carries no content (RFC 9110 §6.4.1). */
export function responseHasNoContent(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}
