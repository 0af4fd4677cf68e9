/**
 * OpenTelemetry traces through Deno's built-in support (`OTEL_DENO=true`, exported over
 * OTLP as the `OTEL_EXPORTER_OTLP_*` variables say; see docs/operational-notes.md). The
 * runtime makes the server span of every HTTP/1.1 and HTTP/2 request and a client span per
 * `fetch`; sProx names the request's span after its route and adds one span per upstream
 * attempt (route, origin, attempt number), under which the attempt's `fetch` span sits.
 * Without `OTEL_DENO` the API is a no-op.
 * @module
 */
import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

const tracer = trace.getTracer("sprox");

/**
 * Names the span of the request being served and sets attributes on it, when it is traced
 * (`describe` runs only then). Attributes set here replace the runtime's (its `url.full`
 * and `url.query` carry the query unredacted).
 *
 * @example
 * ```ts
 * annotateRequestSpan(() => ({ name: "GET tv", attributes: { "sprox.route": "tv" } }));
 * ```
 */
export function annotateRequestSpan(
  describe: () => { name: string; attributes: Attributes },
): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  const { name, attributes } = describe();
  span.setAttributes(attributes);
  span.updateName(name);
}

/**
 * Runs `fn` inside a new span (a child of the active one); the span ends when `fn` settles
 * and is marked as an error when it throws or `failed` says so. `attributes` runs only when
 * the span is recorded: without `OTEL_DENO` this costs one no-op span.
 *
 * @example
 * ```ts
 * const response = await inSpan("sprox.upstream_attempt", () => ({ "sprox.route": "tv" }), () => fetch(url));
 * ```
 */
export async function inSpan<T>(
  name: string,
  attributes: () => Attributes,
  fn: (span: Span) => Promise<T>,
  options: { failed?: (result: T) => string | undefined } = {},
): Promise<T> {
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL });
  if (!span.isRecording()) return await fn(span);
  span.setAttributes(attributes());
  return await context.with(trace.setSpan(context.active(), span), async () => {
    try {
      const result = await fn(span);
      const failure = options.failed?.(result);
      if (failure) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      return result;
    } catch (error) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.name : "error",
      });
      throw error;
    } finally {
      span.end();
    }
  });
}
