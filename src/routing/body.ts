/**
 * Streaming an upstream body to the client: pull-based (backpressure reaches the
 * upstream socket), an idle timeout between chunks, and a failure that ends the client
 * response visibly (the stream errors, so the connection is closed or the HTTP/2 stream
 * reset — never a response that looks complete).
 * @module
 */
import { afterDeadline } from "../net/mod.ts";
import { classifyUpstreamError, UpstreamFailure } from "./upstream_failure.ts";

/** How a streamed body ended. */
export type BodyOutcome =
  | { readonly kind: "complete"; readonly bytes: number }
  | { readonly kind: "client_cancelled"; readonly bytes: number }
  | { readonly kind: "failed"; readonly bytes: number; readonly failure: UpstreamFailure }
  /**
   * Handed to the runtime's native pipe (`upstream.body_pipe: native`): `bytes` is the
   * announced `Content-Length`; how the body ends is not seen by sProx.
   */
  | { readonly kind: "piped"; readonly bytes: number };

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
  const timeoutMs = options.readTimeoutMs;
  let bytes = 0;
  let ended = false;
  let timedOut: UpstreamFailure | undefined;
  // One timer per body, not per chunk: it fires at the deadline of the read in progress and
  // re-arms for the time that is left, so the hot path only stores a timestamp. Only time
  // spent waiting on the upstream counts: a client that does not pull (a paused player)
  // is backpressure, not an idle upstream.
  let readStartedAt = performance.now();
  let reading = false;
  let cancelDeadline: (() => void) | undefined;
  const end = (outcome: BodyOutcome) => {
    if (ended) return;
    ended = true;
    cancelDeadline?.();
    options.onEnd?.(outcome);
  };
  const check = () => {
    const idle = reading ? performance.now() - readStartedAt : 0;
    if (idle < timeoutMs) {
      cancelDeadline = afterDeadline(timeoutMs - idle, check);
      return;
    }
    timedOut = new UpstreamFailure("read_timeout", `no body bytes for ${timeoutMs} ms`);
    // A pending read() settles once the source is cancelled; pull() then errors the stream.
    reader.cancel(timedOut).catch(() => {});
  };
  cancelDeadline = afterDeadline(timeoutMs, check);
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
    const failure = error instanceof UpstreamFailure
      ? error
      : new UpstreamFailure("body_error", classifyUpstreamError(error).message, {
        cause: error,
      });
    end({ kind: "failed", bytes, failure });
    reader.cancel(failure).catch(() => {});
    controller.error(failure);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        readStartedAt = performance.now();
        reading = true;
        const { done, value } = await reader.read();
        reading = false;
        if (timedOut) return fail(controller, timedOut);
        if (done) {
          end({ kind: "complete", bytes });
          controller.close();
          return;
        }
        bytes += value.byteLength;
        controller.enqueue(value);
      } catch (error) {
        fail(controller, timedOut ?? error);
      }
    },
    cancel(reason) {
      end({ kind: "client_cancelled", bytes });
      return reader.cancel(reason).catch(() => {});
    },
    // No read-ahead here: the source already buffers, one more chunk per stream is memory.
  }, { highWaterMark: 0 });
}
