/**
 * How sProx's upstream clients keep idle connections. The runtime's default keeps every idle
 * connection to a host for 90 s: after a burst of 256 concurrent transfers, 256 idle
 * connections and their read buffers (which grow to a few hundred KiB on big bodies) stay
 * allocated. A reverse proxy's usual answer is a bounded idle pool per origin. Bounded too
 * tightly, it churns under load: with 32 kept and 256 transfers in flight, nearly every
 * upstream request opened a new connection (755 TCP opens for 639 requests in 5 s), each
 * closed by sProx into `TIME_WAIT`, with its handshake and a fresh buffer to grow.
 * @module
 */

/** Idle connections kept per origin host (and port); more are closed when released. */
export const UPSTREAM_IDLE_PER_HOST = 128;
/** How long an idle upstream connection is kept (ms). */
export const UPSTREAM_IDLE_TIMEOUT_MS = 30_000;

/** The pool options every upstream `Deno.createHttpClient` of sProx starts from. */
export const UPSTREAM_POOL: Readonly<Deno.CreateHttpClientOptions> = {
  poolMaxIdlePerHost: UPSTREAM_IDLE_PER_HOST,
  poolIdleTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
};
