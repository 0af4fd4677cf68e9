/**
 * `sprox healthcheck`: exit 0 when the URL answers 200, 1 otherwise, saying why.
 * @module
 */

/** Probes `url`; returns the process exit code. */
export async function runHealthcheck(url: string, timeoutMs: number): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.status === 200) {
      console.log(`healthy: ${url} answered 200`);
      return 0;
    }
    console.error(`unhealthy: ${url} answered ${response.status}`);
    return 1;
  } catch (error) {
    const reason = error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : (error as Error).message;
    console.error(`unhealthy: ${url}: ${reason}`);
    return 1;
  }
}
