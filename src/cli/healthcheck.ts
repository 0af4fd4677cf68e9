/**
 * `sprox healthcheck`: exit 0 when the URL answers 200, 1 otherwise, naming the cause
 * (connection refused, name not resolved, TLS, timeout, or the status and what the body
 * says). Without `--url`, the URL is `/health` on the configuration's first listener (a
 * plain one when there is one), so a container's probe follows the configured port.
 * @module
 */
import https from "node:https";
import { ConfigError, formatIssue, loadConfig } from "../config/mod.ts";
import { classifyUpstreamError, describeError } from "../routing/mod.ts";

/** What to probe. */
export interface HealthcheckOptions {
  /** The URL; derived from the configuration when absent. */
  readonly url?: string;
  /** The configuration (`-c`, else `SPROX_CONFIG`, else `config/routes.yaml`). */
  readonly config?: string;
  readonly timeoutMs: number;
}

/** The probe URL of a configuration: `/health` on its first plain listener, else its first TLS one. */
export function healthUrlOf(
  routes: readonly { listen: { host: string; port: number; tls: { enabled: boolean } } }[],
): URL {
  const listen = (routes.find((r) => !r.listen.tls.enabled) ?? routes[0]).listen;
  // A wildcard address is probed on the loopback of the same family.
  const host = listen.host === "0.0.0.0"
    ? "127.0.0.1"
    : listen.host === "::" || listen.host === "[::]"
    ? "[::1]"
    : listen.host.includes(":") && !listen.host.startsWith("[")
    ? `[${listen.host}]`
    : listen.host;
  return new URL(`${listen.tls.enabled ? "https" : "http"}://${host}:${listen.port}/health`);
}

/** Why a request did not get an answer, in words an operator can act on. */
export function describeProbeFailure(error: unknown, url: URL, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return `no answer within ${timeoutMs} ms (the process is stuck, overloaded or not listening)`;
  }
  const failure = classifyUpstreamError(error);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const detail = describeError(error).replace(/^fetch failed: /i, "");
  switch (failure.kind) {
    case "refused":
      return `connection refused: nothing listens on ${url.hostname}:${port} ` +
        "(is sprox running, with a listener on this port?)";
    case "dns":
      return `the host name "${url.hostname}" could not be resolved`;
    case "tls":
      return `TLS handshake failed: ${detail}`;
    case "reset":
      return `the connection was closed before an answer: ${detail}`;
    default:
      return detail;
  }
}

/** A short reading of an error body: `reason: message` of sProx's JSON bodies. */
function bodySummary(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const parts = [body.error ?? body.status, body.message ?? body.reason]
      .filter((p) => typeof p === "string");
    if (Array.isArray(body.routes)) parts.push(`routes: ${body.routes.join(", ")}`);
    if (parts.length > 0) return parts.join(": ");
  } catch {
    // Not JSON: the start of the text.
  }
  return text.slice(0, 120).replace(/\s+/g, " ").trim();
}

/**
 * GET over TLS without verifying the certificate: the probe targets this host's own
 * listener by address, which its certificate (issued for the service's names) never names.
 */
function probeTls(url: URL, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => body.length < 4096 && (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    request.on("timeout", () => {
      request.destroy(new DOMException("timed out", "TimeoutError"));
    });
    request.on("error", reject);
  });
}

async function probe(url: URL, timeoutMs: number): Promise<{ status: number; body: string }> {
  if (url.protocol === "https:") return await probeTls(url, timeoutMs);
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/** Probes the URL; returns the process exit code. */
export async function runHealthcheck(options: HealthcheckOptions): Promise<number> {
  let url: URL;
  if (options.url !== undefined) {
    try {
      url = new URL(options.url);
    } catch {
      console.error(`unhealthy: "${options.url}" is not a URL`);
      return 1;
    }
  } else {
    try {
      url = healthUrlOf((await loadConfig(options.config)).config.routes);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const first = error.issues.find((i) => i.severity === "error");
      console.error(
        `unhealthy: no URL given and the configuration cannot say where to probe: ${
          first ? formatIssue(first) : error.message
        }`,
      );
      return 1;
    }
  }
  try {
    const { status, body } = await probe(url, options.timeoutMs);
    if (status === 200) {
      console.log(`healthy: ${url.href} answered 200`);
      return 0;
    }
    const summary = bodySummary(body);
    console.error(`unhealthy: ${url.href} answered ${status}${summary ? ` (${summary})` : ""}`);
    return 1;
  } catch (error) {
    console.error(`unhealthy: ${url.href}: ${describeProbeFailure(error, url, options.timeoutMs)}`);
    return 1;
  }
}
