/**
 * The timeouts of one upstream attempt before its response headers.
 * @module
 */
import { afterDeadline } from "../net/mod.ts";
import type { OriginPlan } from "./origins.ts";
import type { RoutePlan } from "./select_route.ts";
import { UpstreamFailure } from "./upstream_failure.ts";

/**
 * Arms the timeouts of one attempt with one timer at a time. Request timeout: no response
 * headers within `request_timeout_ms`. Connect stall: if headers have not arrived after half
 * the connect timeout, a probe TCP connection is opened to the first hop (origin or SOCKS5
 * proxy); if it has not connected by the connect timeout, the attempt is aborted as a
 * connect timeout (Deno's HTTP client exposes no connect timeout of its own). Most requests
 * get headers long before either, so the hot path costs one timer.
 */
export function armTimeouts(
  route: RoutePlan,
  origin: OriginPlan,
  abort: (failure: UpstreamFailure) => void,
): () => void {
  const connectMs = route.config.upstream.connect_timeout_ms;
  const requestMs = route.config.upstream.request_timeout_ms;
  const probeAt = Math.floor(connectMs / 2);
  let probe: AbortController | undefined;
  const requestTimedOut = () =>
    abort(new UpstreamFailure("timeout", `no response headers within ${requestMs} ms`));
  const startProbe = () => {
    const hop = origin.hop;
    const controller = new AbortController();
    probe = controller;
    const deadline = setTimeout(() => {
      controller.abort(PROBE_DONE);
      abort(
        new UpstreamFailure(
          "connect_timeout",
          `no TCP connection to ${hop.hostname}:${hop.port} within ${connectMs} ms`,
        ),
      );
    }, Math.ceil(connectMs / 2));
    Deno.connect({ ...hop, signal: controller.signal }).then(
      (conn) => conn.close(),
      () => {},
    ).finally(() => clearTimeout(deadline));
    controller.signal.addEventListener("abort", () => clearTimeout(deadline));
  };
  let cancel = afterDeadline(Math.min(probeAt, requestMs), () => {
    if (probeAt >= requestMs) return requestTimedOut();
    startProbe();
    cancel = afterDeadline(requestMs - probeAt, requestTimedOut);
  });
  return () => {
    cancel();
    probe?.abort(PROBE_DONE);
  };
}

/** The abort reason of a finished connect probe (no DOMException allocated per request). */
const PROBE_DONE = new Error("connect probe finished");
