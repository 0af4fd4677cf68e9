/**
 * Coarse deadlines for the per-request timeouts (connect, request, body read): one runtime
 * timer ticking every {@linkcode DEADLINE_TICK_MS} while any deadline is armed, instead of a
 * runtime timer per deadline. Arming and cancelling cost a set insertion and deletion; a
 * deadline never fires early, and about one tick late (more when the event loop is busy, as
 * with any timer).
 * @module
 */

/** The granularity of a deadline (ms). */
export const DEADLINE_TICK_MS = 20;

/** Armed deadlines by the tick at which they are due. */
const due = new Map<number, Set<{ readonly fire: () => void }>>();
let ticker: ReturnType<typeof setInterval> | undefined;
/** The last tick processed. */
let processed = 0;

function currentTick(): number {
  return Math.floor(performance.now() / DEADLINE_TICK_MS);
}

function advance(): void {
  const now = currentTick();
  for (let tick = processed + 1; tick <= now; tick++) {
    const entries = due.get(tick);
    if (entries === undefined) continue;
    due.delete(tick);
    // As with runtime timers, a callback that throws is an uncaught error: they do not.
    for (const entry of entries) entry.fire();
  }
  processed = now;
  if (due.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/**
 * Calls `fire` once `ms` have passed (never before; about one tick after), unless the
 * returned function is called first.
 *
 * @example
 * ```ts
 * const cancel = afterDeadline(30_000, () => controller.abort());
 * // ... the work finished in time:
 * cancel();
 * ```
 */
export function afterDeadline(ms: number, fire: () => void): () => void {
  if (ticker === undefined) {
    processed = currentTick();
    const interval = setInterval(advance, DEADLINE_TICK_MS);
    // Deadlines belong to work that keeps the process alive on its own (sockets).
    Deno.unrefTimer(interval);
    ticker = interval;
  }
  // Due at the first tick whose start is at or after now + ms.
  const tick = Math.max(processed + 1, Math.ceil((performance.now() + ms) / DEADLINE_TICK_MS));
  let entries = due.get(tick);
  if (entries === undefined) due.set(tick, entries = new Set());
  const entry = { fire };
  entries.add(entry);
  return () => {
    // An empty tick goes at once: the ticker stops when nothing is armed.
    if (entries.delete(entry) && entries.size === 0 && due.get(tick) === entries) due.delete(tick);
  };
}

/** Whether the runtime timer is running (some deadline is armed and not yet due). */
export function deadlinesTicking(): boolean {
  return ticker !== undefined;
}
