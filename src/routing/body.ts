/**
 * Streaming an upstream body to the client: pull-based (backpressure reaches the
 * upstream socket), an idle timeout between chunks, and a failure that ends the client
 * response visibly (the stream errors, so the connection is closed or the HTTP/2 stream
 * reset — never a response that looks complete).
 * @module
 */
import { classifyUpstreamError, UpstreamFailure } from "./upstream_failure.ts";

/** How a streamed body ended. */
export type BodyOutcome =
  | { readonly kind: "complete"; readonly bytes: number }
  | { readonly kind: "client_cancelled"; readonly bytes: number }
  | { readonly kind: "failed"; readonly bytes: number; readonly failure: UpstreamFailure };

/** Options of {@linkcode guardBody}. */
export interface GuardOptions {
  /** Longest wait for the next chunk. */
  readonly readTimeoutMs: number;
  /** Called once, when the body ends one way or another. */
  readonly onEnd?: (outcome: BodyOutcome) => void;
}

/**
 * Wraps an upstream body. Cancelling the result (the client went away) cancels the
 * upstream body at once, which closes the upstream connection.
 *
 * @example
 * ```ts
 * const body = guardBody(upstream.body!, { readTimeoutMs: 5000 });
 * ```
 */
export function guardBody(
  source: ReadableStream<Uint8Array>,
  options: GuardOptions,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let bytes = 0;
  let ended = false;
  const end = (outcome: BodyOutcome) => {
    if (ended) return;
    ended = true;
    options.onEnd?.(outcome);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UpstreamFailure(
                "read_timeout",
                `no body bytes for ${options.readTimeoutMs} ms`,
              ),
            ),
          options.readTimeoutMs,
        );
      });
      try {
        const { done, value } = await Promise.race([reader.read(), idle]);
        if (done) {
          end({ kind: "complete", bytes });
          controller.close();
          return;
        }
        bytes += value.byteLength;
        controller.enqueue(value);
      } catch (error) {
        const failure = error instanceof UpstreamFailure
          ? error
          : new UpstreamFailure("body_error", classifyUpstreamError(error).message, {
            cause: error,
          });
        end({ kind: "failed", bytes, failure });
        reader.cancel(failure).catch(() => {});
        controller.error(failure);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      end({ kind: "client_cancelled", bytes });
      return reader.cancel(reason).catch(() => {});
    },
  });
}
