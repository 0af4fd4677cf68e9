/**
 * The last step of a request's life: once the response has been delivered (or has failed to
 * be), settle its true outcome, count it and write its log line. Nothing here may throw: it
 * runs after the response, where a throw would be an unhandled rejection (a crash).
 * @module
 */
import type { ConnectionState } from "../edge/connection.ts";
import {
  bytesStreamed,
  httpRequestDuration,
  httpRequests,
  log,
  metricChildren,
  redactPathAndQuery,
  redactText,
  requestErrors,
} from "../telemetry/mod.ts";
import { inMemoryBody } from "../net/mod.ts";
import type { BodyTally, RequestContext } from "./context.ts";

/**
 * The status logged for a client that went away before its response was delivered (nginx's
 * convention); it counts as `4xx`, never as a server error.
 */
export const CLIENT_CLOSED_STATUS = 499;

/** Logged for a request the server cut at shutdown before anything was sent. */
const NOT_ANSWERED_STATUS = 503;

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]);

// Children looked up once per label set (bounded: route ids, methods, status classes, modes).
const durationOf = metricChildren((route, method) => httpRequestDuration.labels(route, method));
const requestsOf = metricChildren((route, method, statusClass) =>
  httpRequests.labels(route, method, statusClass)
);
const bytesOf = metricChildren((mode) => bytesStreamed.labels(mode));

/** What the edge says about the delivery of a response. */
export interface Delivery {
  /** `info.completed`: settles when the runtime is done with the response. */
  readonly completed: Promise<void>;
  /** The connection the request arrived on (`closedBy` when the server closed it). */
  readonly connection: ConnectionState;
}

/** A request's settled outcome. */
export interface Settled {
  /** The status logged and counted: as sent, or 499 for a client that went away. */
  readonly status: number;
  readonly outcome: string;
  /** The whole response reached the connection. */
  readonly delivered: boolean;
}

/**
 * The `Content-Length` a response announced for a body that was sent (not HEAD). Read once
 * the response is delivered: reading `body` earlier would turn a byte body into a stream.
 */
function declaredLength(ctx: RequestContext, response: Response): number | undefined {
  if (ctx.logMethod === "HEAD") return undefined;
  const value = response.headers.get("content-length");
  if (value === null || !/^\d{1,15}$/.test(value)) return undefined;
  // A body sent from memory went out whole or not at all (its tally says which); only a
  // streamed body can end short. Not reading `body` spares making a stream of the bytes.
  if (inMemoryBody(response) !== undefined) {
    return undefined;
  }
  return response.body === null ? undefined : Number(value);
}

/**
 * Settles how a request ended. In order: a connection the server closed itself (`shutdown`)
 * while the response was still going out; a failure the request already recorded (an error
 * response, `client_closed` before the response, a body that broke); a client that went away
 * (the body was cancelled, the request's signal aborted, or the runtime could not complete
 * the response): 499 `client_closed`; a body that ended short (`truncated`); otherwise `ok`,
 * or `piped` for a body handed to the native pipe (its end is not observed).
 *
 * @example
 * ```ts
 * settleOutcome(ctx, response, tally, { completedOk: true, connection, declared: 1000 });
 * ```
 */
export function settleOutcome(
  ctx: RequestContext,
  response: Response,
  tally: BodyTally,
  options: { completedOk: boolean; connection: ConnectionState; declared?: number },
): Settled {
  // A piped body's length is the announced one: how it ended is not known here.
  const short = !tally.piped && options.declared !== undefined && tally.bytes < options.declared;
  const clientGone = !options.completedOk || tally.cancelled || ctx.signal.aborted;
  const closedBy = options.connection.closedBy;
  if (closedBy !== null && (clientGone || short || tally.failed === true)) {
    // The abort the handler saw came from the server closing the connection, not the client.
    const status = ctx.outcome === "client_closed" ? NOT_ANSWERED_STATUS : response.status;
    return { status, outcome: closedBy, delivered: false };
  }
  if (ctx.outcome !== undefined) {
    return {
      status: response.status,
      outcome: ctx.outcome,
      delivered: !clientGone && !short && !tally.failed,
    };
  }
  if (clientGone) {
    return { status: CLIENT_CLOSED_STATUS, outcome: "client_closed", delivered: false };
  }
  if (short || tally.failed) {
    return { status: response.status, outcome: "truncated", delivered: false };
  }
  return { status: response.status, outcome: tally.piped ? "piped" : "ok", delivered: true };
}

/** Reports a log line that could not be written; never throws. */
function reportLogFailure(requestId: string, error: unknown): void {
  try {
    let detail: string;
    try {
      detail = redactText(String(error));
    } catch {
      detail = "unprintable error";
    }
    log("error", "request log line failed", { request_id: requestId, error: detail });
  } catch {
    // The logger itself failed; there is nowhere left to say so.
  }
}

/**
 * Counts the request (duration now; the request, its status class and bytes once delivery
 * settles) and writes its log line then. Never throws, and the promise chain it starts
 * never rejects.
 *
 * @example
 * ```ts
 * recordRequest(ctx, response, tally, { completed: info.completed, connection });
 * ```
 */
export function recordRequest(
  ctx: RequestContext,
  response: Response,
  tally: BodyTally,
  delivery: Delivery,
): void {
  try {
    const config = ctx.plan.config;
    // Metric labels stay bounded: an arbitrary method string is not a label value.
    const method = KNOWN_METHODS.has(ctx.logMethod) ? ctx.logMethod : "OTHER";
    const telemetry = config.telemetry.enabled;
    if (telemetry) {
      durationOf(ctx.route, method).observe(
        (performance.now() - ctx.startedAt) / 1000,
      );
    }
    const path = redactPathAndQuery(`${ctx.url.pathname}${ctx.url.search}`, {
      redactDrmEverywhere: config.sensitive_logging.redact_sensitive_queries,
    });
    const write = (completedOk: boolean) => {
      try {
        const end = settleOutcome(ctx, response, tally, {
          completedOk,
          connection: delivery.connection,
          declared: declaredLength(ctx, response),
        });
        // A piped body that did not finish normally sent an unknown number of bytes.
        const bytes = tally.piped && end.outcome !== "piped" ? null : tally.bytes;
        if (telemetry) {
          requestsOf(ctx.route, method, `${Math.floor(end.status / 100)}xx`).inc();
          if (end.outcome !== "ok" && end.outcome !== "piped") {
            requestErrors.labels(end.outcome).inc();
          }
          if (bytes) bytesOf(ctx.bytesMode ?? "endpoint").inc(bytes);
        }
        log(end.status >= 500 || !end.delivered ? "warn" : "info", "request", {
          request_id: ctx.requestId,
          route: ctx.route,
          method: ctx.logMethod,
          path,
          status: end.status,
          bytes,
          duration_ms: Math.round(performance.now() - ctx.startedAt),
          upstream_ms: ctx.upstreamMs,
          ...(ctx.upstreamOrigin ? { upstream_origin: ctx.upstreamOrigin } : {}),
          client_ip: ctx.clientIp,
          protocol: delivery.connection.protocol,
          outcome: end.outcome,
          ...(ctx.cache ? { cache: ctx.cache } : {}),
          ...(ctx.logHeaders ? { request_headers: ctx.logHeaders } : {}),
        });
      } catch (error) {
        reportLogFailure(ctx.requestId, error);
      }
    };
    delivery.completed.then(() => write(true), () => write(false)).catch((error) =>
      reportLogFailure(ctx.requestId, error)
    );
  } catch (error) {
    reportLogFailure(ctx.requestId, error);
  }
}
