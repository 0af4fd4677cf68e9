/**
 * Bounded waits for tests: a regression that stops a server, a peer or a log line from
 * appearing must fail the test with a message, not hang the run.
 * @module
 */

/** How long one request in a test may take before it counts as hung. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Resolves like `promise`, or rejects with "timed out after <ms> ms: <what>" first.
 *
 * @example
 * ```ts
 * const line = await withTimeout(reader.read(), 5_000, "first chunk of the download");
 * ```
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An abort signal for one test request (`fetch(url, { signal: deadline() })`); it also
 * bounds reading the response body.
 *
 * @example
 * ```ts
 * const response = await fetch(url, { signal: deadline() });
 * ```
 */
export function deadline(ms: number = REQUEST_TIMEOUT_MS): AbortSignal {
  return AbortSignal.timeout(ms);
}

/**
 * Waits for `child` to exit within `ms`; kills it (SIGKILL) and throws when it does not.
 *
 * @example
 * ```ts
 * child.kill("SIGTERM");
 * await exitWithin(child, 10_000, "nginx");
 * ```
 */
export async function exitWithin(
  child: { readonly status: Promise<Deno.CommandStatus>; kill(signal?: Deno.Signal): void },
  ms: number,
  what: string,
): Promise<Deno.CommandStatus> {
  try {
    return await withTimeout(child.status, ms, `${what} to exit`);
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
    await child.status;
    throw error;
  }
}
