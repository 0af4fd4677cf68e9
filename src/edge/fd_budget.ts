/**
 * Shedding before the process runs out of file descriptors.
 *
 * The runtime offers no `getrlimit` and denies `/proc` to a sandboxed process, so the
 * limit is learned: when `accept` fails for want of a descriptor (EMFILE/ENFILE), the
 * number of open client connections at that moment is the ceiling, and from then on a new
 * connection is shed while fewer than `fd_reserve` descriptors would remain below it —
 * leaving room for upstream connections, certificate reads and the like, which would
 * otherwise fail next. The ceiling is forgotten after {@linkcode CEILING_TTL_MS} without a
 * new failure, so a raised limit or a burst of upstream sockets that has passed does not
 * cap the listener forever.
 * @module
 */

/** How long a learned ceiling holds without another descriptor failure. */
export const CEILING_TTL_MS = 30_000;

/** Whether an accept error means the process (or system) is out of descriptors. */
export function isDescriptorExhaustion(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /too many open files|os error 2[34]\b/i.test(message);
}

/** The process-wide descriptor budget (one for all listeners). */
export class FdBudget {
  #reserve: number;
  #ceiling: number | null = null;
  #learnedAt = 0;
  #open = 0;
  #now: () => number;

  constructor(reserve: number, now: () => number = () => performance.now()) {
    this.#reserve = reserve;
    this.#now = now;
  }

  /** Applies a new `fd_reserve` (a reload). */
  setReserve(reserve: number): void {
    this.#reserve = reserve;
  }

  /** Client connections open now (all listeners). */
  get open(): number {
    return this.#open;
  }

  /** The learned ceiling, or `null` while none holds. */
  get ceiling(): number | null {
    if (this.#ceiling !== null && this.#now() - this.#learnedAt > CEILING_TTL_MS) {
      this.#ceiling = null;
    }
    return this.#ceiling;
  }

  /** Whether a new connection must be shed to keep the reserve. */
  underPressure(): boolean {
    const ceiling = this.ceiling;
    return ceiling !== null && this.#open >= ceiling - this.#reserve;
  }

  /** `accept` failed for want of a descriptor: the current count is the ceiling. */
  exhausted(): void {
    this.#ceiling = this.#open;
    this.#learnedAt = this.#now();
  }

  /** A connection was admitted. */
  opened(): void {
    this.#open++;
  }

  /** A connection was closed. */
  closed(): void {
    this.#open--;
  }
}
