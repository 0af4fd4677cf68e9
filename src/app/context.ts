/**
 * What every step of a request's life can read, and the facts it records for the log line.
 * @module
 */
import type { PolicyOutcome } from "../policy/mod.ts";
import type { ListenerPlan, Plan } from "./plan.ts";

/** What the body of a response did on its way out. */
export interface BodyTally {
  /** Bytes handed to the connection. */
  bytes: number;
  /** The body was cancelled before its end (the client went away). */
  cancelled: boolean;
  /** The body's source failed before its end (the client got a cut-off body). */
  failed?: boolean;
  /**
   * The body went to the runtime's native pipe: `bytes` is its announced length, and a body
   * the origin ends short is seen by the client (cut off) but not here.
   */
  piped?: boolean;
}

/** Per-request state: the inputs are read-only, the outcome fields are written once. */
export interface RequestContext {
  readonly request: Request;
  readonly url: URL;
  readonly plan: Plan;
  readonly listener: ListenerPlan;
  readonly requestId: string;
  /** The socket peer address. */
  readonly peerIp: string;
  /** The client address as `/ip` resolves it. */
  readonly clientIp: string;
  /** `http` or `https`: how the client reached this listener. */
  readonly protocol: "http" | "https";
  /**
   * The edge can pipe an untouched upstream body natively (HTTP/1.1 and HTTP/2). sProx's own
   * HTTP/3 reads every body in JavaScript: there the native pipe would only lose the read
   * timeout, so bodies keep the guarded stage.
   */
  readonly nativePipe: boolean;
  readonly startedAt: number;
  /**
   * The client's signal: it aborts only when the client goes away before the response is
   * delivered (`no-legacy-abort`). Upstream exchanges join it so they stop with the client.
   */
  readonly signal: AbortSignal;
  /** The method as logged: bounded (see `loggedMethod`). */
  readonly logMethod: string;
  /**
   * The request headers, redacted, captured when the request arrived (debug level only): the
   * request object may be closed by the time its log line is written (after an upgrade).
   */
  readonly logHeaders?: Record<string, string>;
  /** The route id or endpoint name that served the request (log and metric label). */
  route: string;
  /** Milliseconds until the upstream answered, when an upstream was involved. */
  upstreamMs?: number;
  /** The origin that answered, on a route with several origins. */
  upstreamOrigin?: string;
  /**
   * How the request failed, when it did: an error reason (`no_route`, `client_closed`, …) or
   * a body failure (`truncated`, `upstream_read_timeout`). The log line adds `ok`, and
   * `client_closed`, `truncated` or `shutdown` when the response was not delivered whole.
   */
  outcome?: string;
  /** Body bytes mode for metrics: `route`, `direct`, `speedtest`, ... */
  bytesMode?: string;
  /**
   * Set by a handler whose body stage already counts bytes and notices cancellation (the
   * route forwarder does, for its read timeout), so the finish step adds no second stage.
   */
  bodyTally?: BodyTally;
  /** What the cache did (`hit`, `miss`, `coalesced`, …), when the request went through it. */
  cache?: string;
  /** What the policy step decided (rate limit), for the response fields. */
  policy?: PolicyOutcome;
}
