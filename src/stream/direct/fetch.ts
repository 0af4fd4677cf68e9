/**
 * Fetching a destination under the `/proxy/stream` rules: allowlist and SSRF guard before
 * every connection, pinned connections, manual redirects (each hop re-checked), a timeout
 * until response headers, and retries through the budget.
 * @module
 */
import { afterDeadline, bytesResponse, NULL_BODY_STATUSES } from "../../net/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { isAllowed, normaliseUrl } from "./allowlist.ts";
import type { DirectPlan } from "./compile.ts";
import { checkDestination, type CheckedAddress } from "./guard.ts";
import { directUpstreamLatency } from "./metrics.ts";
import type { PinnedRoute } from "./pin.ts";
import {
  classifyUpstreamError,
  fetchWithRetry,
  processRetryBudget,
  SMALL_BODY_MAX,
  toProxyError,
  UpstreamFailure,
} from "../../routing/mod.ts";
import { parseHostLiteral } from "./ssrf.ts";

/** What {@linkcode fetchDirect} returns. */
export interface DirectFetchResult {
  /** The final (non-redirect) upstream response; its body releases the connection. */
  readonly response: Response;
  /** The URL that answered, after redirects. */
  readonly finalUrl: URL;
  /** Milliseconds until the final response headers arrived. */
  readonly upstreamMs: number;
}

/** Options of {@linkcode fetchDirect}. */
export interface DirectFetchOptions {
  /** Upstream request headers, already filtered (see `upstreamHeaders`). */
  readonly headers: Headers;
  readonly method?: "GET" | "HEAD";
  /** Aborts the exchange (including the body) when the caller goes away. */
  readonly signal?: AbortSignal;
  /** Called with the size of every body chunk passed on. */
  readonly onBytes?: (n: number) => void;
  /** Called when the body is cancelled before its end (the client went away). */
  readonly onCancel?: () => void;
  /** Called when the upstream body fails before its end (the client gets a cut-off body). */
  readonly onBodyError?: (error: unknown) => void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

class UpstreamTimeout extends Error {}

/**
 * Checks a URL against the allowlist and the guard, in the order that gives the most
 * precise refusal: IP literals are classified first, names after the allowlist.
 */
async function admit(direct: DirectPlan, url: URL): Promise<CheckedAddress> {
  const normal = normaliseUrl(url);
  const literal = parseHostLiteral(normal.host) !== undefined;
  const checked = literal ? await checkDestination(normal.host, normal.port, direct.guard) : null;
  if (!isAllowed(direct.allowlist, normal)) {
    throw new ProxyError(403, "allowlist_denied", "destination is not allowlisted");
  }
  return checked ?? await checkDestination(normal.host, normal.port, direct.guard);
}

/** An exchange whose response headers arrived. */
interface Exchanged {
  readonly response: Response;
  readonly pinned: PinnedRoute;
  readonly ms: number;
  /** Aborts the exchange (its body). */
  readonly abort: (reason: unknown) => void;
}

/** One upstream exchange to a checked address, with the header timeout. */
async function exchange(
  direct: DirectPlan,
  url: URL,
  address: CheckedAddress,
  options: DirectFetchOptions,
): Promise<Exchanged> {
  const pinned: PinnedRoute = direct.connector.route(url, address);
  // A list of pairs: `fetch` converts one several times faster than a `Headers` object.
  const headers: [string, string][] = [];
  options.headers.forEach((value, name) => {
    if (pinned.host === null || name !== "host") headers.push([name, value]);
  });
  if (pinned.host !== null) headers.push(["host", pinned.host]);
  const controller = new AbortController();
  const cancelDeadline = afterDeadline(
    direct.requestTimeoutMs,
    () => controller.abort(new UpstreamTimeout()),
  );
  // The caller's signal stays joined after the headers: it aborts the body too.
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  const started = performance.now();
  try {
    const response = await fetch(pinned.url, {
      method: options.method ?? "GET",
      headers,
      redirect: "manual",
      client: pinned.client,
      signal: controller.signal,
    });
    const ms = performance.now() - started;
    directUpstreamLatency.observe(ms / 1000);
    return { response, pinned, ms, abort: (reason) => controller.abort(reason) };
  } catch (error) {
    pinned.release();
    options.signal?.removeEventListener("abort", onAbort);
    if (controller.signal.reason instanceof UpstreamTimeout) throw controller.signal.reason;
    throw error;
  } finally {
    cancelDeadline();
  }
}

/**
 * Passes the body on, counting bytes and releasing the pinned client when it ends. Up to
 * `bufferBytes` are read ahead of the client. A cancellation (the client went away) and an
 * upstream failure are told apart: only the first is the client's doing.
 */
function releasingBody(
  response: Response,
  pinned: PinnedRoute,
  options: DirectFetchOptions,
  bufferBytes: number,
): Response {
  if (!response.body) {
    pinned.release();
    return response;
  }
  const reader = response.body.getReader();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    pinned.release();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        release();
        // The caller's signal aborts the exchange when the client goes away: a read that
        // fails then is the client's doing, not the upstream's.
        if (options.signal?.aborted) options.onCancel?.();
        else options.onBodyError?.(error);
        controller.error(error);
        return;
      }
      if (result.done) {
        release();
        controller.close();
        return;
      }
      options.onBytes?.(result.value.byteLength);
      controller.enqueue(result.value);
    },
    cancel(reason) {
      options.onCancel?.();
      release();
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: bufferBytes, size: (chunk) => chunk.byteLength });
  return new Response(body, { status: response.status, headers: response.headers });
}

/**
 * Reads a small body whole (at most `SMALL_BODY_MAX` by `Content-Length`, not content-coded:
 * a stream stage costs more than such a body) within the request timeout and answers it from
 * memory, with the pinned client released. A stall or a failure before the end is the error
 * route mode answers for it (504 `upstream_read_timeout`, 502 `upstream_error`), never a
 * cut-off body; the client going away, 499.
 */
async function wholeBody(
  exchanged: Exchanged,
  options: DirectFetchOptions,
  timeoutMs: number,
): Promise<Response> {
  const { response, pinned } = exchanged;
  const cancelDeadline = afterDeadline(timeoutMs, () => exchanged.abort(new UpstreamTimeout()));
  try {
    const bytes = await response.bytes();
    options.onBytes?.(bytes.byteLength);
    return bytesResponse(bytes, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch (error) {
    if (options.signal?.aborted) {
      options.onCancel?.();
      throw new ProxyError(499, "client_closed", "client closed request", { cause: error });
    }
    throw toProxyError(
      error instanceof UpstreamTimeout
        ? new UpstreamFailure("read_timeout", `no body bytes for ${timeoutMs} ms`)
        : new UpstreamFailure("body_error", classifyUpstreamError(error).message, {
          cause: error,
        }),
    );
  } finally {
    cancelDeadline();
    pinned.release();
  }
}

function upstreamFailure(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  if (error instanceof UpstreamTimeout) {
    return new ProxyError(502, "upstream_timeout", "upstream did not answer in time", {
      cause: error,
    });
  }
  return new ProxyError(502, "upstream_error", "upstream request failed", { cause: error });
}

/**
 * Fetches `target` under the direct-stream rules (credentials aside): allowlist, SSRF guard
 * and pinning at every hop, at most `max_redirects` redirects (then 502), retries through
 * the budget. Throws {@linkcode ProxyError}.
 *
 * @example
 * ```ts
 * const { response, finalUrl } = await fetchDirect(plan.direct!, new URL("https://cdn.example/a.m3u8"), {
 *   headers: new Headers({ accept: "*\/*" }),
 * });
 * ```
 */
export async function fetchDirect(
  direct: DirectPlan,
  target: URL,
  options: DirectFetchOptions,
): Promise<DirectFetchResult> {
  let url = new URL(target.href);
  for (let hop = 0;; hop++) {
    const address = await admit(direct, url);
    let result;
    try {
      // Transport failures (DNS, connect, TLS, header timeout) are retried through the
      // process-wide budget shared with route upstreams; HTTP statuses are answers.
      result = await fetchWithRetry(() => exchange(direct, url, address, options), {
        retry: direct.retry,
        budget: processRetryBudget,
        idempotent: true,
        scope: "direct",
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) {
        // The client went away: the exchange was aborted with it, and nothing is retried.
        throw new ProxyError(499, "client_closed", "client closed request", { cause: error });
      }
      throw upstreamFailure(error);
    }
    const { response, pinned, ms } = result;
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) {
      const length = Number(response.headers.get("content-length") ?? Number.NaN);
      const small = options.method !== "HEAD" && response.body !== null &&
        !NULL_BODY_STATUSES.has(response.status) && length <= SMALL_BODY_MAX &&
        !response.headers.has("content-encoding");
      return {
        response: small
          ? await wholeBody(result, options, direct.requestTimeoutMs)
          : releasingBody(response, pinned, options, direct.responseBufferBytes),
        finalUrl: url,
        upstreamMs: ms,
      };
    }
    await response.body?.cancel().catch(() => {});
    pinned.release();
    if (hop >= direct.maxRedirects) {
      throw new ProxyError(502, "too_many_redirects", "upstream redirected too many times");
    }
    try {
      url = new URL(location, url);
    } catch {
      throw new ProxyError(502, "upstream_bad_response", "upstream sent an invalid redirect");
    }
    url.hash = "";
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ProxyError(403, "allowlist_denied", "redirect leaves http(s)");
    }
  }
}
