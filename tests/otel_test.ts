/**
 * OpenTelemetry traces through Deno's built-in support: a loopback OTLP/HTTP receiver (JSON
 * encoding) sees the request's span, named after its route with its URL redacted, one span
 * per upstream attempt (route, origin, attempt number; a failed one marked as an error)
 * and the runtime's fetch span of each attempt beneath it, all in one trace.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

interface Span {
  readonly scope: string;
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly status: number;
  readonly attributes: Record<string, unknown>;
}

/** OTLP `AnyValue` (JSON encoding) to a plain value. */
function anyValue(value: Record<string, unknown>): unknown {
  if ("stringValue" in value) return value.stringValue;
  if ("intValue" in value) return Number(value.intValue);
  if ("boolValue" in value) return value.boolValue;
  if ("doubleValue" in value) return value.doubleValue;
  return value;
}

/** An OTLP/HTTP receiver on the loopback that keeps the spans it is sent. */
async function startReceiver() {
  const spans: Span[] = [];
  const paths = new Set<string>();
  const { promise, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => resolve() },
    async (request) => {
      const path = new URL(request.url).pathname;
      paths.add(path);
      const body = await request.json();
      if (path === "/v1/traces") {
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                scope: ss.scope?.name,
                name: s.name,
                kind: s.kind,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId,
                status: s.status?.code ?? 0,
                attributes: Object.fromEntries(
                  (s.attributes ?? []).map((a: { key: string; value: Record<string, unknown> }) => [
                    a.key,
                    anyValue(a.value),
                  ]),
                ),
              });
            }
          }
        }
      }
      return Response.json({});
    },
  );
  await withTimeout(promise, 10_000, "the OTLP receiver to listen");
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    spans,
    paths,
    close: () => withTimeout(server.shutdown(), 10_000, "the OTLP receiver to stop"),
  };
}

Deno.test("OTLP: the request span, one span per upstream attempt, and the fetch spans beneath", async () => {
  const receiver = await startReceiver();
  const origin = await startOrigin(() => new Response("from backup"));
  const deadPort = freePort();
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
routes:
  - id: traced
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origins:
        - { url: "http://127.0.0.1:${deadPort}", priority: 0 }
        - { url: "${origin.url}", priority: 1 }
      retry: { max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20 }
`,
    {
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "sprox-test",
        OTEL_BSP_SCHEDULE_DELAY: "100",
      },
    },
  );
  try {
    const response = await fetch(
      `http://127.0.0.1:${port}/seg.ts?token=Tr4ced-Secret-Token&x=1`,
      { signal: deadline() },
    );
    assert.equal(await response.text(), "from backup");

    // Wait for the request's span (exported in batches).
    const end = Date.now() + 10_000;
    const requestSpan = () =>
      receiver.spans.find((s) => s.kind === 2 && s.attributes["sprox.route"] === "traced");
    while ((!requestSpan() || receiver.spans.length < 5) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const root = requestSpan();
    assert.ok(root, `no request span among ${JSON.stringify(receiver.spans)}`);
    assert.equal(root.name, "GET traced");
    assert.equal(String(root.attributes["http.response.status_code"]), "200");
    assert.equal(
      root.attributes["url.full"],
      `http://127.0.0.1:${port}/seg.ts?token=[REDACTED]&x=1`,
    );
    assert.equal(root.attributes["url.query"], "token=[REDACTED]&x=1");

    const attempts = receiver.spans.filter((s) => s.name === "sprox.upstream_attempt")
      .sort((a, b) =>
        Number(a.attributes["sprox.attempt"]) - Number(b.attributes["sprox.attempt"])
      );
    assert.deepEqual(
      attempts.map((s) => [
        s.scope,
        s.attributes["sprox.attempt"],
        s.attributes["sprox.origin"],
        s.status,
        s.parentSpanId,
        s.traceId,
      ]),
      [
        ["sprox", 1, `http://127.0.0.1:${deadPort}`, 2, root.spanId, root.traceId],
        ["sprox", 2, origin.url, 0, root.spanId, root.traceId],
      ],
    );
    assert.equal(attempts[1].attributes["http.response.status_code"], 200);
    assert.equal(
      attempts[1].attributes["url.full"],
      `${origin.url}/seg.ts?token=[REDACTED]&x=1`,
    );

    // Each attempt's fetch span (the runtime's) sits under it.
    const fetches = receiver.spans.filter((s) => s.kind === 3);
    for (const attempt of attempts) {
      const child = fetches.find((s) => s.parentSpanId === attempt.spanId);
      assert.ok(child, `no fetch span under attempt ${attempt.attributes["sprox.attempt"]}`);
      assert.equal(child.traceId, root.traceId);
    }
    assert.ok(receiver.paths.has("/v1/traces"));
  } finally {
    await sprox.stop();
    await origin.close();
    await receiver.close();
  }
});
