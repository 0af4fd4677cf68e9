/**
 * Forwarding a request to a route's upstream: build the upstream request, fetch with
 * timeouts and retries, and hand back the upstream response with a guarded body. The
 * caller builds the client response (so a manifest step can sit in between).
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import {
  afterDeadline,
  appendEndToEnd,
  bytesResponse,
  inMemoryBody,
  NULL_BODY_STATUSES,
  stripHopByHopInPlace,
} from "../net/mod.ts";
import { inSpan, log, metricChildren, redactUrl } from "../telemetry/mod.ts";
import { type BodyOutcome, guardBody } from "./body.ts";
import { appendVia, clientResponseHeaders, upstreamRequestHeaders } from "./headers.ts";
import { upstreamErrors, upstreamLatency } from "./metrics.ts";
import { fetchWithRetry, processRetryBudget, type RetryBudget } from "./retry.ts";
import type { ClientProtocol, RoutePlan } from "./select_route.ts";
import {
  classifyUpstreamError,
  describeError,
  toProxyError,
  UpstreamFailure,
} from "./upstream_failure.ts";
import { armTimeouts } from "./timeouts.ts";
import { joinUpstreamUrl } from "./upstream_url.ts";
import { RELAY_ERROR_HEADER, relayUrl } from "./tls_relay.ts";
import type { UpstreamFailureKind } from "./upstream_failure.ts";
import { type OriginPlan, pickOrigin } from "./origins.ts";

/** Methods that may be retried (RFC 9110 §9.2.2), when the request has no body. */
const IDEMPOTENT: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "TRACE",
  "PUT",
  "DELETE",
]);

/** Upstream statuses worth another attempt. */
const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** What forwarding needs besides the request and the route. */
export interface ForwardOptions {
  readonly peerIp: string;
  readonly clientIp: string;
  readonly protocol: ClientProtocol;
  readonly requestId?: string;
  /** `request.url` parsed already (the caller's), or parsed here. */
  readonly url?: URL;
  /** Aborts the upstream exchange (the client went away). Defaults to `request.signal`. */
  readonly signal?: AbortSignal;
  /** The retry budget (the process-wide one by default). */
  readonly budget?: RetryBudget;
  /** Called once when the upstream body has ended (complete, cancelled or failed). */
  readonly onBodyEnd?: (outcome: BodyOutcome) => void;
  /**
   * Says whether the caller hands this upstream response's body to the client untouched.
   * On a route with `upstream.body_pipe: native`, such a body of a `GET` with an announced length goes
   * to the runtime's native pipe instead of the guarded stage (or the whole read of a small
   * body): no read timeout, and `onBodyEnd` reports `piped` at once. Any body JavaScript
   * reads stays guarded.
   */
  readonly passThrough?: (upstream: Response) => boolean;
}

/** The upstream side of a forwarded request. */
export interface Forwarded {
  /**
   * The upstream response; its body is guarded by the route's read timeout (unless it was
   * handed to the native pipe, see {@linkcode ForwardOptions.passThrough}).
   */
  readonly response: Response;
  /** The URL the response came from. */
  readonly upstreamUrl: URL;
  /** The origin that answered (its configured URL). */
  readonly origin: string;
  /** Milliseconds from the first attempt to response headers. */
  readonly upstreamMs: number;
  readonly attempts: number;
}

/** Removes queries from URLs inside error text (they may carry tokens). */
function redactDetail(text: string): string {
  return text.replace(/\?[^\s)]*/g, "?…");
}

/** The upstream request fields plus `Host` (never among them: sProx sets it). */
function withHost(headers: [string, string][], target: URL): [string, string][] {
  return [...headers, ["host", target.host]];
}

/**
 * Bodies up to this size (by Content-Length) are read whole before answering: bounded like
 * a socket buffer, and cheaper than a streaming stage for the playlists, keys and small
 * segments that make up most requests (route mode here, `/proxy/stream` in direct mode).
 */
export const SMALL_BODY_MAX = 64 * 1024;

/**
 * Responses built by {@linkcode forwardToRoute} for one request: their headers are their own
 * copy, so {@linkcode buildClientResponse} makes them client-ready in place instead of copying
 * them again (building a `Headers` from a list of pairs costs more than one more pass).
 */
const ownResponses = new WeakMap<Response, { readonly endToEnd: boolean }>();

function own(response: Response, endToEnd = false): Response {
  ownResponses.set(response, { endToEnd });
  return response;
}

/**
 * `upstream`'s status and end-to-end fields over `body` (or `bytes`, registered in memory), as
 * a response of this request's own: built bare, its fields appended in one pass, so that
 * {@linkcode buildClientResponse} has neither a copy nor a hop-by-hop pass left to make.
 */
function ownCopy(
  upstream: Response,
  body: ReadableStream<Uint8Array> | null,
  bytes?: Uint8Array<ArrayBuffer>,
): Response {
  const init = { status: upstream.status, statusText: upstream.statusText };
  const response = bytes ? bytesResponse(bytes, init) : new Response(body, init);
  appendEndToEnd(upstream.headers, response.headers);
  return own(response, true);
}

/**
 * Marks `response` as built for this request alone (headers that are its own copy, shared
 * with nothing stored), so {@linkcode buildClientResponse} makes it client-ready in place.
 *
 * @example
 * ```ts
 * return buildClientResponse(claimResponse(new Response("#EXTM3U\n")));
 * ```
 */
export function claimResponse(response: Response): Response {
  return own(response);
}

/** A response, and how to abort its exchange (its body included). */
interface Attempt {
  readonly response: Response;
  readonly abort: (failure: UpstreamFailure) => void;
  /** The origin and URL the attempt went to. */
  readonly origin: OriginPlan;
  readonly target: URL;
}

/** What a request the client abandoned ends with (logged as 499, never a 5xx). */
function clientClosed(cause: unknown): ProxyError {
  return new ProxyError(499, "client_closed", "client closed request", { cause });
}

/**
 * Reads a small upstream body within the read timeout. A stall or failure happens before any
 * byte reached the client, so it is answered as an error (504 timeout, 502 otherwise). A
 * client that goes away meanwhile stops the read (and the upstream exchange) at once.
 */
async function readSmallBody(
  upstream: Response,
  attempt: Attempt,
  options: {
    route: RoutePlan;
    fields: Record<string, unknown>;
    signal: AbortSignal;
    onBodyEnd?: (outcome: BodyOutcome) => void;
  },
): Promise<Response> {
  const timeoutMs = options.route.config.upstream.read_timeout_ms;
  const signal = options.signal;
  let timedOut: UpstreamFailure | undefined;
  const cancelDeadline = afterDeadline(timeoutMs, () => {
    timedOut = new UpstreamFailure("read_timeout", `no body bytes for ${timeoutMs} ms`);
    attempt.abort(timedOut);
  });
  const onClientAbort = () =>
    attempt.abort(new UpstreamFailure("body_error", "the client went away"));
  if (signal.aborted) onClientAbort();
  else signal.addEventListener("abort", onClientAbort, { once: true });
  try {
    const bytes = await upstream.bytes();
    options.onBodyEnd?.({ kind: "complete", bytes: bytes.byteLength });
    return ownCopy(upstream, null, bytes);
  } catch (error) {
    if (signal.aborted && !timedOut) {
      options.onBodyEnd?.({ kind: "client_cancelled", bytes: 0 });
      throw clientClosed(error);
    }
    const failure = timedOut ??
      new UpstreamFailure("body_error", classifyUpstreamError(error).message, { cause: error });
    upstreamErrors.labels(options.route.id, failure.kind).inc();
    log("warn", "upstream body failed before the response started", {
      ...options.fields,
      reason: failure.kind,
      detail: redactDetail(describeError(failure)),
    });
    options.onBodyEnd?.({ kind: "failed", bytes: 0, failure });
    throw toProxyError(failure);
  } finally {
    cancelDeadline();
    signal.removeEventListener("abort", onClientAbort);
  }
}

/** The latency histogram's child per route (route ids are bounded). */
const latencyOf = metricChildren((scope) => upstreamLatency.labels(scope));

/** One attempt to one origin: fetch with the connect and request timeouts. */
async function attemptOnce(
  route: RoutePlan,
  origin: OriginPlan,
  target: URL,
  init: RequestInit,
  signal: AbortSignal,
): Promise<Attempt> {
  const controller = new AbortController();
  const abort = (failure: UpstreamFailure) => controller.abort(failure);
  // One controller per attempt, fed by the client's signal (cheaper than AbortSignal.any).
  const onClientAbort = () => controller.abort(signal.reason);
  if (signal.aborted) onClientAbort();
  else signal.addEventListener("abort", onClientAbort, { once: true });
  const stopTimers = armTimeouts(route, origin, abort);
  const started = performance.now();
  try {
    const response = await fetch(origin.relayed ? relayUrl(target) : target, {
      ...init,
      headers: origin.relayed ? withHost(init.headers as [string, string][], target) : init.headers,
      client: origin.client,
      signal: controller.signal,
    });
    const relayError = origin.relayed ? response.headers.get(RELAY_ERROR_HEADER) : null;
    if (relayError) {
      const detail = await response.text();
      throw new UpstreamFailure(relayError as UpstreamFailureKind, detail);
    }
    latencyOf(route.id).observe((performance.now() - started) / 1000);
    // A 5xx counts against the origin (passive ejection); anything else clears its record.
    if (response.status >= 500) origin.health.recordFailure(`status_${response.status}`);
    else origin.health.recordSuccess();
    return { response, abort, origin, target };
  } catch (error) {
    if (signal.aborted) throw error;
    const failure = classifyUpstreamError(
      controller.signal.aborted ? controller.signal.reason : error,
    );
    origin.health.recordFailure(failure.kind);
    throw failure;
  } finally {
    stopTimers();
    signal.removeEventListener("abort", onClientAbort);
  }
}

/** {@linkcode attemptOnce} in a trace span (a no-op unless tracing is on). */
function tracedAttempt(
  route: RoutePlan,
  origin: OriginPlan,
  target: URL,
  init: RequestInit,
  signal: AbortSignal,
  attempt: number,
): Promise<Attempt> {
  return inSpan(
    "sprox.upstream_attempt",
    () => ({
      "sprox.route": route.id,
      "sprox.origin": origin.label,
      "sprox.attempt": attempt,
      "http.request.method": String(init.method),
      "url.full": redactUrl(target.href, { redactDrmEverywhere: true }),
    }),
    async (span) => {
      const result = await attemptOnce(route, origin, target, init, signal);
      span.setAttribute("http.response.status_code", result.response.status);
      return result;
    },
    {
      failed: (result) =>
        result.response.status >= 500 ? `status ${result.response.status}` : undefined,
    },
  );
}

/**
 * Forwards `request` to one of the route's origins (retrying idempotent requests within
 * the budget, each retry on an origin not tried yet while a healthy one is left) and
 * returns the upstream response. Failures before headers throw a
 * {@linkcode ProxyError}: 504 for connect/request timeouts, 502 for refused, reset, TLS
 * and SOCKS5 failures.
 *
 * @example
 * ```ts
 * const { response, upstreamUrl } = await forwardToRoute(request, route, {
 *   peerIp: "127.0.0.1", clientIp: "127.0.0.1", protocol: "http",
 * });
 * return buildClientResponse(response);
 * ```
 */
export async function forwardToRoute(
  request: Request,
  route: RoutePlan,
  options: ForwardOptions,
): Promise<Forwarded> {
  const url = options.url ?? new URL(request.url);
  // Joined once up front: an ambiguous path is refused (403) before any attempt.
  const first = joinUpstreamUrl(route.origin, url);
  const headers = upstreamRequestHeaders(request.headers, {
    policy: route.headers,
    peerIp: options.peerIp,
    clientIp: options.clientIp,
    protocol: options.protocol,
    host: request.headers.get("host") ?? url.host,
  });
  const signal = options.signal ?? request.signal;
  const init: RequestInit = {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  };
  const fields = { request_id: options.requestId, route: route.id };
  let attempts = 0;
  const started = performance.now();
  // Each retry moves to an origin this request has not tried, when a healthy one is left.
  const tried = new Set<OriginPlan>();
  let current: OriginPlan | undefined;
  let attempt: Attempt;
  try {
    attempt = await fetchWithRetry((n, s) => {
      attempts = n;
      const origin = pickOrigin(route.origins, tried);
      tried.add(origin);
      current = origin;
      const target = origin.url === route.origin ? first : joinUpstreamUrl(origin.url, url);
      return tracedAttempt(route, origin, target, init, s, n);
    }, {
      retry: route.config.upstream.retry,
      budget: options.budget ?? processRetryBudget,
      idempotent: IDEMPOTENT.has(request.method) && request.body === null,
      scope: route.id,
      signal,
      shouldRetry: (o) => o.error !== undefined || RETRY_STATUSES.has(o.result!.response.status),
      discard: (r) => void r.response.body?.cancel().catch(() => {}),
      onRetry: ({ attempt, delayMs, outcome }) =>
        log("info", "retrying upstream request", {
          ...fields,
          attempt,
          origin: current?.label,
          delay_ms: delayMs,
          status: outcome.result?.response.status,
          reason: outcome.error ? classifyUpstreamError(outcome.error).kind : undefined,
        }),
    });
  } catch (error) {
    if (signal.aborted) {
      log("info", "client went away before the upstream answered; upstream request cancelled", {
        ...fields,
        attempts,
      });
      throw clientClosed(error);
    }
    const failure = classifyUpstreamError(error);
    upstreamErrors.labels(route.id, failure.kind).inc();
    log("warn", "upstream request failed", {
      ...fields,
      attempts,
      origin: current?.label,
      reason: failure.kind,
      detail: redactDetail(describeError(failure)),
    });
    throw toProxyError(failure);
  }
  const upstream = attempt.response;
  const upstreamUrl = attempt.target;
  const origin = attempt.origin.label;
  const upstreamMs = Math.round(performance.now() - started);
  const done = (response: Response): Forwarded => ({
    response,
    upstreamUrl,
    origin,
    upstreamMs,
    attempts,
  });
  // The upstream response under this request's own headers copy, with `body` in place of its own.
  const passOn = (body: ReadableStream<Uint8Array> | null) => done(ownCopy(upstream, body));
  if (upstream.body === null || NULL_BODY_STATUSES.has(upstream.status)) {
    upstream.body?.cancel().catch(() => {});
    options.onBodyEnd?.({ kind: "complete", bytes: 0 });
    return passOn(null);
  }
  const length = Number(upstream.headers.get("content-length") ?? Number.NaN);
  if (
    route.config.upstream.body_pipe === "native" && Number.isFinite(length) &&
    request.method === "GET" && options.passThrough?.(upstream) === true
  ) {
    // The untouched fetch body: Deno pipes it natively to the client (see docs/routing.md).
    options.onBodyEnd?.({ kind: "piped", bytes: length });
    return passOn(upstream.body);
  }
  if (length <= SMALL_BODY_MAX && request.method !== "HEAD") {
    return done(
      await readSmallBody(upstream, attempt, {
        route,
        fields,
        signal,
        onBodyEnd: options.onBodyEnd,
      }),
    );
  }
  return passOn(guardBody(upstream.body, {
    readTimeoutMs: route.config.upstream.read_timeout_ms,
    onEnd: (outcome) => {
      if (outcome.kind === "failed") {
        upstreamErrors.labels(route.id, outcome.failure.kind).inc();
        log("warn", "upstream body failed; client response aborted", {
          ...fields,
          reason: outcome.failure.kind,
          bytes: outcome.bytes,
          detail: redactDetail(describeError(outcome.failure)),
        });
      }
      options.onBodyEnd?.(outcome);
    },
  }));
}

/**
 * Builds the client response from an upstream one: hop-by-hop headers removed, `Via`
 * extended, body streamed as is.
 *
 * @example
 * ```ts
 * return buildClientResponse(forwarded.response);
 * ```
 */
export function buildClientResponse(upstream: Response): Response {
  const owned = ownResponses.get(upstream);
  if (owned !== undefined) {
    ownResponses.delete(upstream);
    // A response of this request's own (see `ownResponses`): made client-ready in place.
    if (!owned.endToEnd) stripHopByHopInPlace(upstream.headers);
    appendVia(upstream.headers);
    return upstream;
  }
  const init = {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: clientResponseHeaders(upstream.headers),
  };
  const bytes = inMemoryBody(upstream);
  return bytes ? bytesResponse(bytes, init) : new Response(upstream.body, init);
}
