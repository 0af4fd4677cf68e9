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
  readonly startedAt: number;
  /** The route id or endpoint name that served the request (log and metric label). */
  route: string;
  /** Milliseconds until the upstream answered, when an upstream was involved. */
  upstreamMs?: number;
  /** Failure reason, when the request failed. */
  outcome?: string;
  /** Body bytes mode for metrics: `route`, `direct`, `speedtest`, ... */
  bytesMode?: string;
  /**
   * Set by a handler whose body stage already counts bytes and notices cancellation (the
   * route forwarder does, for its read timeout), so the finish step adds no second stage.
   */
  bodyTally?: BodyTally;
  /** What the policy step decided (rate limit), for the response fields. */
  policy?: PolicyOutcome;
}
