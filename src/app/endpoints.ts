/**
 * Built-in runtime endpoints: `/health`, `/ready`, `/metrics`, `/ip`, `/speedtest`.
 * @module
 */
import { refreshCertificateExpiry } from "../edge/certificate_expiry.ts";
import { ProxyError } from "../errors/mod.ts";
import { healthChecks, log, METRICS_CONTENT_TYPE, renderMetrics } from "../telemetry/mod.ts";
import type { RequestContext } from "./context.ts";

/** `/health`: 200 while the process serves. */
export function handleHealth(ctx: RequestContext): Response {
  if (ctx.plan.config.telemetry.enabled) healthChecks.inc();
  return Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
}

/**
 * `/ready`: 200 while every route has an origin that may take requests; 503 while some
 * route has none (ejected or failing its health checks) and while the server drains.
 * `/health` stays liveness: it answers 200 whatever the origins do.
 */
export function handleReady(ctx: RequestContext, draining: boolean): Response {
  const headers = { "cache-control": "no-store" };
  if (draining) {
    return Response.json({ status: "not_ready", reason: "draining" }, { status: 503, headers });
  }
  const down = ctx.plan.routing.routes
    .filter((route) => !route.origins.some((origin) => origin.health.available()))
    .map((route) => route.id);
  if (down.length > 0) {
    return Response.json(
      { status: "not_ready", reason: "no_healthy_origin", routes: down },
      { status: 503, headers },
    );
  }
  return Response.json({ status: "ready" }, { headers });
}

/** `/metrics`: the Prometheus exposition; 501 when telemetry is off (spec). */
export async function handleMetrics(ctx: RequestContext): Promise<Response> {
  if (!ctx.plan.config.telemetry.enabled) {
    throw new ProxyError(501, "telemetry_disabled", "telemetry is disabled");
  }
  await refreshCertificateExpiry(ctx.plan.listeners.values());
  return new Response(await renderMetrics(), {
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

/** `/ip`: the caller's address as sProx resolves it. */
export function handleIp(ctx: RequestContext): Response {
  return Response.json({ ip: ctx.clientIp }, { headers: { "cache-control": "no-store" } });
}

/** Size of the `/speedtest` payload: 8 MiB (spec). */
export const SPEEDTEST_BYTES = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

/**
 * The deterministic speedtest payload, produced chunk by chunk on demand (xorshift32 from a
 * fixed seed), so the same bytes come every time without holding 8 MiB in memory.
 */
export function speedtestStream(onDone: (bytes: number) => void): ReadableStream<Uint8Array> {
  let state = 0x2545f491;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(CHUNK, SPEEDTEST_BYTES - sent);
      const chunk = new Uint8Array(size);
      const words = new Uint32Array(chunk.buffer, 0, size >> 2);
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state >>> 0;
      }
      controller.enqueue(chunk);
      sent += size;
      if (sent >= SPEEDTEST_BYTES) {
        controller.close();
        onDone(sent);
      }
    },
  }, { highWaterMark: 0 });
}

/** `/speedtest`: streams the payload and logs the observed throughput. */
export function handleSpeedtest(ctx: RequestContext): Response {
  const started = performance.now();
  ctx.bytesMode = "speedtest";
  const body = speedtestStream((bytes) => {
    const seconds = (performance.now() - started) / 1000;
    log("info", "speedtest finished", {
      request_id: ctx.requestId,
      client_ip: ctx.clientIp,
      bytes,
      duration_ms: Math.round(seconds * 1000),
      throughput_mbps: Number(((bytes * 8) / 1e6 / Math.max(seconds, 1e-6)).toFixed(2)),
    });
  });
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(SPEEDTEST_BYTES),
      "cache-control": "no-store",
    },
  });
}
