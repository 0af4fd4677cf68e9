/**
 * An object being filled from an upstream body, with readers that follow the fill.
 *
 * The upstream body is read once, at the origin's pace, into chunk storage; every reader
 * (the first client and each joiner) is a pull-based stream (`highWaterMark` 0) over the
 * stored chunks, so each has its own backpressure and a late reader gets the bytes already
 * stored at once, then follows. Memory is the object, never per reader.
 *
 * While it retains (the object may still be stored), everything from byte 0 is kept, up to
 * `maxBytes`. Past that, or once told the object will not be stored, it stops retaining:
 * chunks every reader has passed are dropped, and the upstream is read only while the
 * slowest reader is less than `maxBytes` behind (a window: bounded memory, paced by the
 * slowest reader). A fill that retains completes even when every reader has gone; one that
 * does not is aborted (its upstream cancelled) as soon as nobody reads.
 * @module
 */

/** How a fill ended. */
export type FillEnd =
  | { readonly kind: "complete"; readonly bytes: number }
  | { readonly kind: "failed"; readonly error: unknown }
  | { readonly kind: "aborted" };

/** Options of {@linkcode Fill}. */
export interface FillOptions {
  /** Bytes kept from the start at most, and the window once the fill stops retaining. */
  readonly maxBytes: number;
  /** The declared length (`Content-Length`), used to size storage; may be wrong. */
  readonly declaredLength?: number | null;
  /** Called once when the fill stops retaining (it outgrew `maxBytes`, or was told to). */
  readonly onStopRetaining?: () => void;
}

/** Where a reader reads. */
export interface FillReaderOptions {
  /** First byte (default 0). */
  readonly start?: number;
  /** End, exclusive (default: the end of the object). */
  readonly end?: number;
  /** Detaches the reader when aborted (the client went away). */
  readonly signal?: AbortSignal;
}

interface ReaderState {
  pos: number;
  readonly end: number;
  hint: number;
  attached: boolean;
}

const MIN_BLOCK = 16 * 1024;
const MAX_BLOCK = 1024 * 1024;
const WINDOW_BLOCK = 64 * 1024;
/** A finished object's last block is copied to its exact size when it wastes more than this. */
const TRIM_SLACK = 1024;
const EMPTY = new Uint8Array(0);

/**
 * A body being read from upstream into memory, readable by any number of readers.
 *
 * @example
 * ```ts
 * const fill = new Fill(upstream.body, { maxBytes: 16 << 20 });
 * const first = new Response(fill.reader());
 * const joiner = new Response(fill.reader()); // gets the stored bytes at once, then follows
 * ```
 */
export class Fill {
  /** Settles once, when the upstream body has ended. */
  readonly ended: Promise<FillEnd>;
  readonly #maxBytes: number;
  readonly #declared: number | null;
  readonly #onStopRetaining?: () => void;
  #source: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #resolveEnded!: (end: FillEnd) => void;
  #views: Uint8Array[] = [];
  #starts: number[] = [];
  #first = 0;
  #dropped = 0;
  #length = 0;
  #block: Uint8Array | null = null;
  #blockUsed = 0;
  #retain = true;
  #aborting = false;
  #state: "filling" | FillEnd["kind"] = "filling";
  #error: unknown;
  #changed = Promise.withResolvers<void>();
  #progress: (() => void) | null = null;
  readonly #readers = new Set<ReaderState>();

  constructor(source: ReadableStream<Uint8Array> | null, options: FillOptions) {
    this.#maxBytes = options.maxBytes;
    this.#declared = options.declaredLength ?? null;
    this.#onStopRetaining = options.onStopRetaining;
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
    if (source === null) this.#finish({ kind: "complete", bytes: 0 });
    else {
      this.#source = source.getReader();
      this.#pump();
    }
  }

  /** Everything from byte 0 is still held (and the object may be stored). */
  get retaining(): boolean {
    return this.#retain;
  }

  /** The upstream body ended normally. */
  get complete(): boolean {
    return this.#state === "complete";
  }

  /** The upstream body failed. */
  get failed(): boolean {
    return this.#state === "failed";
  }

  /** Bytes received from upstream so far. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held in memory now. */
  get bufferedBytes(): number {
    return this.#length - this.#dropped;
  }

  /** Readers attached now. */
  get readerCount(): number {
    return this.#readers.size;
  }

  /**
   * Stops retaining: the object will not be stored. Bytes every reader has passed are
   * dropped from now on, and the upstream is aborted if nobody reads.
   */
  stopRetaining(): void {
    if (!this.#retain) return;
    this.#retain = false;
    this.#onStopRetaining?.();
    this.#dropPassed();
    this.#abortIfUnread();
    this.#wakePump();
  }

  /**
   * A stream of the object's bytes from `start` to `end`, following the fill. Throws when
   * `start` has already been dropped (only possible once the fill stopped retaining).
   */
  reader(options: FillReaderOptions = {}): ReadableStream<Uint8Array> {
    const start = options.start ?? 0;
    if (start < this.#dropped) throw new RangeError(`byte ${start} is no longer held`);
    const state: ReaderState = {
      pos: start,
      end: options.end ?? Infinity,
      hint: this.#first,
      attached: true,
    };
    this.#readers.add(state);
    const signal = options.signal;
    const onAbort = () => this.#detach(state);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        await this.#pull(state, controller);
        if (!state.attached) signal?.removeEventListener("abort", onAbort);
      },
      cancel: () => {
        signal?.removeEventListener("abort", onAbort);
        this.#detach(state);
      },
    }, { highWaterMark: 0 });
  }

  /** The whole body of a complete fill that retained it, as one array. */
  bytes(): Uint8Array {
    if (this.#state !== "complete" || !this.#retain) {
      throw new Error("the fill is not a complete retained object");
    }
    if (this.#views.length === 1) return this.#views[0];
    const out = new Uint8Array(this.#length);
    for (let i = 0; i < this.#views.length; i++) out.set(this.#views[i], this.#starts[i]);
    return out;
  }

  async #pump(): Promise<void> {
    const source = this.#source!;
    try {
      for (;;) {
        while (!this.#retain && !this.#aborting && this.#windowFull()) {
          await new Promise<void>((resolve) => this.#progress = resolve);
        }
        if (this.#aborting) return this.#finish({ kind: "aborted" });
        const { value, done } = await source.read();
        if (this.#aborting) return this.#finish({ kind: "aborted" });
        if (done) {
          this.#compact();
          return this.#finish({ kind: "complete", bytes: this.#length });
        }
        this.#append(value);
        if (this.#retain && this.#length > this.#maxBytes) this.stopRetaining();
        else if (!this.#retain) this.#dropPassed();
        this.#signalChange();
      }
    } catch (error) {
      this.#error = error;
      this.#finish({ kind: "failed", error });
    }
  }

  #windowFull(): boolean {
    return this.#readers.size > 0 && this.#length - this.#slowestPosition() >= this.#maxBytes;
  }

  #slowestPosition(): number {
    let min = this.#length;
    for (const reader of this.#readers) if (reader.pos < min) min = reader.pos;
    return min;
  }

  #append(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (!this.#block || this.#blockUsed === this.#block.byteLength) this.#newBlock();
      const block = this.#block!;
      const n = Math.min(block.byteLength - this.#blockUsed, chunk.byteLength - offset);
      // A copy: fetch hands out views on 64 KiB buffers, whatever their length.
      block.set(chunk.subarray(offset, offset + n), this.#blockUsed);
      this.#views.push(block.subarray(this.#blockUsed, this.#blockUsed + n));
      this.#starts.push(this.#length);
      this.#blockUsed += n;
      this.#length += n;
      offset += n;
    }
  }

  #newBlock(): void {
    let size = WINDOW_BLOCK;
    if (this.#retain) {
      const remaining = this.#declared === null ? 0 : this.#declared - this.#length;
      size = remaining > 0 && this.#declared! <= this.#maxBytes
        ? remaining
        : Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, this.#length));
    }
    this.#block = new Uint8Array(size);
    this.#blockUsed = 0;
  }

  /** One view per block and the last block cut to size: a stored object's final layout. */
  #compact(): void {
    if (!this.#retain || this.#views.length === 0) return;
    const views: Uint8Array[] = [];
    const starts: number[] = [];
    let pos = 0;
    for (const view of this.#views) {
      const last = views.at(-1);
      if (
        last && last.buffer === view.buffer && last.byteOffset + last.byteLength === view.byteOffset
      ) {
        views[views.length - 1] = new Uint8Array(
          last.buffer,
          last.byteOffset,
          last.byteLength + view.byteLength,
        );
      } else {
        views.push(view);
        starts.push(pos);
      }
      pos += view.byteLength;
    }
    const tail = views[views.length - 1];
    if (tail.buffer.byteLength - tail.byteLength > TRIM_SLACK) {
      views[views.length - 1] = tail.slice();
    }
    this.#views = views;
    this.#starts = starts;
    this.#first = 0;
    this.#block = null;
  }

  #dropPassed(): void {
    const passed = this.#slowestPosition();
    while (
      this.#first < this.#views.length &&
      this.#starts[this.#first] + this.#views[this.#first].byteLength <= passed
    ) {
      this.#dropped += this.#views[this.#first].byteLength;
      this.#views[this.#first++] = EMPTY;
    }
    if (this.#first > 256 && this.#first * 2 > this.#views.length) {
      this.#views = this.#views.slice(this.#first);
      this.#starts = this.#starts.slice(this.#first);
      this.#first = 0;
    }
  }

  /** The index of the view holding byte `pos`, or -1 when it has not arrived. */
  #indexOf(state: ReaderState): number {
    const pos = state.pos;
    // Readers move forward: the view they last read from, or the next one, nearly always.
    if (this.#holds(state.hint, pos)) return state.hint;
    if (this.#holds(state.hint + 1, pos)) return state.hint + 1;
    let lo = this.#first;
    let hi = this.#views.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid] > pos) hi = mid - 1;
      else if (this.#holds(mid, pos)) return mid;
      else lo = mid + 1;
    }
    return -1;
  }

  #holds(i: number, pos: number): boolean {
    if (i < this.#first || i >= this.#views.length) return false;
    const start = this.#starts[i];
    return start <= pos && pos < start + this.#views[i].byteLength;
  }

  async #pull(
    state: ReaderState,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    for (;;) {
      if (!state.attached || state.pos >= state.end) {
        this.#detach(state);
        return controller.close();
      }
      const i = this.#indexOf(state);
      if (i !== -1) {
        state.hint = i;
        const view = this.#views[i];
        const from = state.pos - this.#starts[i];
        const to = Math.min(view.byteLength, from + (state.end - state.pos));
        controller.enqueue(from === 0 && to === view.byteLength ? view : view.subarray(from, to));
        state.pos += to - from;
        this.#wakePump();
        return;
      }
      if (this.#state !== "filling") {
        this.#detach(state);
        if (this.#state === "failed") return controller.error(this.#error);
        if (this.#state === "aborted") return controller.error(new Error("the fill was aborted"));
        if (state.end !== Infinity) {
          return controller.error(new Error("the body ended before the requested range"));
        }
        return controller.close();
      }
      await this.#changed.promise;
    }
  }

  #detach(state: ReaderState): void {
    if (!state.attached) return;
    state.attached = false;
    this.#readers.delete(state);
    this.#abortIfUnread();
    this.#wakePump();
  }

  #abortIfUnread(): void {
    if (this.#retain || this.#readers.size > 0 || this.#state !== "filling" || this.#aborting) {
      return;
    }
    this.#aborting = true;
    this.#source?.cancel().catch(() => {});
    this.#signalChange();
  }

  #wakePump(): void {
    const wake = this.#progress;
    this.#progress = null;
    wake?.();
  }

  #signalChange(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }

  #finish(end: FillEnd): void {
    if (this.#state !== "filling") return;
    this.#state = end.kind;
    this.#source = null;
    this.#resolveEnded(end);
    this.#signalChange();
  }
}
