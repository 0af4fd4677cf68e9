/**
 * How sProx's upstream clients keep idle connections. The runtime's default keeps every idle
 * connection to a host for 90 s: after a burst of 256 concurrent transfers, 256 idle
 * connections and their read buffers (which grow to a few hundred KiB on big bodies) stay
 * allocated. A reverse proxy's usual answer is a bounded idle pool per origin.
 * @module
 */

/** Idle connections kept per origin host (and port); more are closed when released. */
export const UPSTREAM_IDLE_PER_HOST = 32;
/** How long an idle upstream connection is kept (ms). */
export const UPSTREAM_IDLE_TIMEOUT_MS = 30_000;

/** The pool options every upstream `Deno.createHttpClient` of sProx starts from. */
export const UPSTREAM_POOL: Readonly<Deno.CreateHttpClientOptions> = {
  poolMaxIdlePerHost: UPSTREAM_IDLE_PER_HOST,
  poolIdleTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
};
