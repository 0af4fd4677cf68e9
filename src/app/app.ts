/**
 * The application builder: one Hono app per listener of a plan. A request's life is the
 * named sequence below, visible in one place:
 *
 *   identify client → policy → built-in endpoint | direct stream | route
 *   → respond → log and count (when the response has been delivered)
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import { resolveClientIp } from "../edge/client_ip.ts";
import { forwardToRoute, selectRoute } from "../routing/mod.ts";
import { handleDirectStream } from "../stream/direct/mod.ts";
import { httpRequestDuration, httpRequests, log, requestErrors } from "../telemetry/mod.ts";
import type { RequestContext } from "./context.ts";
import { handleHealth, handleIp, handleMetrics, handleSpeedtest } from "./endpoints.ts";
import type { ListenerPlan, Plan } from "./plan.ts";

/** What the edge passes with every request. */
export interface EdgeBindings {
  readonly info: Deno.ServeHandlerInfo<Deno.NetAddr>;
  readonly protocol: "http" | "https";
}

type AppEnv = { Bindings: EdgeBindings; Variables: { ctx: RequestContext } };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Step 1: identify the request and the client. */
function identify(plan: Plan, listener: ListenerPlan, c: Context<AppEnv>): RequestContext {
  const request = c.req.raw;
  const incomingId = request.headers.get("x-request-id");
  const peer = c.env.info.remoteAddr.hostname;
  return {
    request,
    url: new URL(request.url),
    plan,
    listener,
    requestId: incomingId && REQUEST_ID.test(incomingId) ? incomingId : crypto.randomUUID(),
    peerIp: peer,
    clientIp: resolveClientIp(request.headers, peer, plan.trustedProxies),
    protocol: c.env.protocol,
    startedAt: performance.now(),
    route: "-",
  };
}

/** Redacts query values whose names suggest credentials or DRM identifiers. */
function redactedPath(url: URL): string {
  if (!url.search) return url.pathname;
  const params = new URLSearchParams(url.search);
  for (const name of [...params.keys()]) {
    if (SENSITIVE_PARAM.test(name)) params.set(name, "REDACTED");
  }
  // `/proxy/stream?d=<url>`: the destination's own query may carry signed-URL tokens.
  const d = params.get("d");
  if (d !== null && URL.canParse(d)) {
    const inner = new URL(d);
    for (const name of [...inner.searchParams.keys()]) {
      if (SENSITIVE_PARAM.test(name)) inner.searchParams.set(name, "REDACTED");
    }
    inner.username = inner.password = "";
    params.set("d", inner.href);
  }
  return `${url.pathname}?${params.toString()}`;
}

const SENSITIVE_PARAM = /pass|token|key|secret|sig|auth|kid|credential|policy|expires/i;

/** Last step: count and log once the response has been delivered (or failed to be). */
function record(ctx: RequestContext, response: Response, completed: Promise<void>): void {
  const method = ctx.request.method;
  const statusClass = `${Math.floor(response.status / 100)}xx`;
  // The telemetry switch turns off request logs and metrics; lifecycle logs stay.
  if (!ctx.plan.config.telemetry.enabled) return;
  httpRequests.labels(ctx.route, method, statusClass).inc();
  httpRequestDuration.labels(ctx.route, method).observe(
    (performance.now() - ctx.startedAt) / 1000,
  );
  if (ctx.outcome) requestErrors.labels(ctx.outcome).inc();
  const write = (delivered: boolean) =>
    log(response.status >= 500 || !delivered ? "warn" : "info", "request", {
      request_id: ctx.requestId,
      route: ctx.route,
      method,
      path: redactedPath(ctx.url),
      status: response.status,
      bytes: Number(response.headers.get("content-length") ?? 0),
      duration_ms: Math.round(performance.now() - ctx.startedAt),
      upstream_ms: ctx.upstreamMs,
      client_ip: ctx.clientIp,
      outcome: delivered ? (ctx.outcome ?? "ok") : (ctx.outcome ?? "client_aborted"),
    });
  completed.then(() => write(true), () => write(false));
}

/**
 * Builds the application serving one listener of a plan.
 *
 * @example
 * ```ts
 * const app = buildApp(plan, plan.listeners.get("127.0.0.1:8080")!);
 * ```
 */
export function buildApp(plan: Plan, listener: ListenerPlan): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const ctx = identify(plan, listener, c);
    c.set("ctx", ctx);
    await next();
    c.res.headers.set("x-request-id", ctx.requestId);
    record(ctx, c.res, c.env.info.completed);
  });

  app.onError((error, c) => {
    const ctx = c.get("ctx");
    const proxyError = error instanceof ProxyError
      ? error
      : new ProxyError(500, "internal", "internal error");
    if (!(error instanceof ProxyError)) {
      log("error", "unhandled error", { request_id: ctx?.requestId, error: String(error) });
    }
    if (ctx) ctx.outcome = proxyError.reason;
    return errorResponse(proxyError, ctx?.requestId);
  });

  const endpoint = (
    name: string,
    handler: (ctx: RequestContext) => Response | Promise<Response>,
  ) =>
  (c: Context<AppEnv>) => {
    const ctx = c.get("ctx");
    ctx.route = name;
    return handler(ctx);
  };

  app.get("/health", endpoint("health", handleHealth));
  app.get("/metrics", endpoint("metrics", handleMetrics));
  app.get("/ip", endpoint("ip", handleIp));
  app.get("/speedtest", endpoint("speedtest", handleSpeedtest));

  app.all("/proxy/stream", async (c) => {
    const ctx = c.get("ctx");
    ctx.route = "direct_stream";
    if (!plan.direct) throw new ProxyError(404, "not_found", "/proxy/stream is not enabled");
    ctx.bytesMode = "direct";
    return await handleDirectStream(plan.direct, ctx.request, ctx.url, ctx);
  });

  app.all("*", (c) => {
    const ctx = c.get("ctx");
    const host = c.req.header("host") ?? ctx.url.host;
    const route = selectRoute(plan.routing, listener.key, host);
    if (!route) throw new ProxyError(404, "no_route", "no route for this host");
    ctx.route = route.id;
    if (!route.protocols.has(ctx.protocol)) {
      throw new ProxyError(403, "protocol_denied", `route does not accept ${ctx.protocol}`);
    }
    return forwardToRoute(ctx.request, route);
  });

  return app;
}
