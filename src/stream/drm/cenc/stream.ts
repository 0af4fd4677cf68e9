/**
 * Decrypting an fMP4 byte stream box by box: a `moov` is made clear, each `moof` is held
 * with its `mdat` until both are complete, decrypted and passed on; every other box streams
 * through as it arrives. At most one `moov` or one fragment is in memory at a time, and the
 * output has exactly the input's length (protection boxes become `free` boxes).
 * @module
 */
import { ProxyError } from "../../../errors/mod.ts";
import { blankBox, type Box, invalidSegment, readBoxHeader } from "./boxes.ts";
import { type ContentKey, decryptSamples } from "./cipher.ts";
import { planFragment } from "./fragment.ts";
import { clearInit, type InitInfo } from "./init.ts";

/** What {@linkcode decryptFragments} needs besides the bytes. */
export interface DecryptStreamOptions {
  /** The key of a KID; throws (400 `key_unavailable`) when there is none. */
  readonly keyFor: (kid: Uint8Array) => Promise<ContentKey>;
  /** The init's description, for fragments that come without a `moov` (media segments). */
  readonly loadInit?: () => Promise<InitInfo>;
  /** The largest `moov`, or `moof` with its `mdat`, held in memory: past it, 502. */
  readonly maxFragmentBytes: number;
  /** File offset of the first byte (the start of a Range answer), for absolute offsets. */
  readonly position?: number;
  /** Called when a `moov` or a fragment has been made clear, just before it is yielded. */
  readonly onClear?: () => void;
}

/** A FIFO of chunks that hands out contiguous byte ranges, copying only when it must. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** `n` bytes from `offset` (both within `length`), as one array. */
  peek(offset: number, n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first && this.#head + offset + n <= first.length) {
      return first.subarray(this.#head + offset, this.#head + offset + n);
    }
    const out = new Uint8Array(n);
    let skip = this.#head + offset;
    let filled = 0;
    for (const chunk of this.#chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const part = chunk.subarray(skip, Math.min(chunk.length, skip + n - filled));
      out.set(part, filled);
      filled += part.length;
      skip = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` bytes as one new array (the caller may change it). */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const piece = this.takeUpTo(n - filled);
      out.set(piece, filled);
      filled += piece.length;
    }
    return out;
  }

  /** Removes and returns up to `n` bytes from the first chunk, without copying. */
  takeUpTo(n: number): Uint8Array {
    const first = this.#chunks[0];
    const size = Math.min(n, first.length - this.#head);
    const out = first.subarray(this.#head, this.#head + size);
    this.#head += size;
    this.length -= size;
    if (this.#head === first.length) {
      this.#chunks.shift();
      this.#head = 0;
    }
    return out;
  }
}

/** Boxes an fMP4 init section, media segment or byte range of either may start with. */
const FIRST_BOXES = new Set([
  "ftyp",
  "styp",
  "moov",
  "moof",
  "sidx",
  "ssix",
  "emsg",
  "prft",
  "mdat",
  "free",
  "skip",
  "uuid",
  "meta",
  "pdin",
  "mfra",
]);

/** The largest box header: 8 bytes, `largesize`, a `uuid` type. */
const MAX_HEADER = 32;

function tooLarge(): ProxyError {
  return new ProxyError(502, "segment_too_large", "a media fragment exceeds the size bound");
}

/**
 * Decrypts an fMP4 stream (init segment, media segment, or both) chunk by chunk. Errors are
 * `ProxyError`s: 502 `segment_invalid` for malformed or unsupported input, 502
 * `segment_too_large` past `maxFragmentBytes`, and whatever `keyFor` or `loadInit` throw.
 *
 * @example
 * ```ts
 * const body = ReadableStream.from(decryptFragments(response.body!, { keyFor, maxFragmentBytes }));
 * ```
 */
export async function* decryptFragments(
  source: AsyncIterable<Uint8Array>,
  options: DecryptStreamOptions,
): AsyncGenerator<Uint8Array> {
  const reader = source[Symbol.asyncIterator]();
  const queue = new ByteQueue();
  let done = false;
  /** Reads until `n` bytes are queued or the source ends; true when they are. */
  const fill = async (n: number): Promise<boolean> => {
    while (queue.length < n && !done) {
      const next = await reader.next();
      if (next.done) done = true;
      else queue.push(next.value);
    }
    return queue.length >= n;
  };
  /** The header of the box `offset` bytes into the queue, or null at the end of the stream. */
  const header = async (offset: number): Promise<Box | null> => {
    await fill(offset + MAX_HEADER);
    if (queue.length === offset && done) return null;
    const available = Math.min(queue.length - offset, MAX_HEADER);
    const box = readBoxHeader(queue.peek(offset, available), 0, available, true);
    if (box === null) throw invalidSegment("the stream ends inside a box header");
    return box;
  };
  const whole = async (size: number): Promise<void> => {
    if (size > options.maxFragmentBytes) throw tooLarge();
    if (size === Infinity) {
      while (!done) {
        await fill(queue.length + 1);
        if (queue.length > options.maxFragmentBytes) throw tooLarge();
      }
    } else if (!await fill(size)) {
      throw invalidSegment("the stream ends inside a box");
    }
  };

  let position = options.position ?? 0;
  let init: InitInfo | null = null;
  let first = true;
  try {
    for (;;) {
      const box = await header(0);
      if (box === null) return;
      if (first && !FIRST_BOXES.has(box.type)) {
        // An error page or a manifest would otherwise stream through as one unknown box.
        throw invalidSegment("the body is not an fMP4 stream");
      }
      first = false;
      if (box.type === "moov") {
        await whole(box.end);
        const bytes = queue.take(Math.min(box.end, queue.length));
        init = clearInit(bytes, { ...box, end: bytes.length });
        position += bytes.length;
        options.onClear?.();
        yield bytes;
      } else if (box.type === "moof") {
        // The fragment runs to the end of the first mdat after the moof.
        await whole(box.end);
        let end = box.end;
        for (;;) {
          const next = await header(end);
          if (next === null) throw invalidSegment("a 'moof' is not followed by an 'mdat'");
          await whole(end + next.end);
          end = Math.min(end + next.end, queue.length);
          if (next.type === "mdat") break;
        }
        const bytes = queue.take(end);
        if (init === null) {
          if (!options.loadInit) throw invalidSegment("a fragment comes before any 'moov'");
          init = await options.loadInit();
        }
        const plan = planFragment(bytes, box, init, { position });
        const keys = new Map<string, ContentKey>();
        for (const sample of plan.samples) {
          const kid = sample.protection.kid;
          const name = kid.join(",");
          if (!keys.has(name)) keys.set(name, await options.keyFor(kid));
        }
        await decryptSamples(bytes, plan.samples, (kid) => keys.get(kid.join(","))!);
        for (const blank of plan.blanks) blankBox(bytes, blank);
        position += bytes.length;
        options.onClear?.();
        yield bytes;
      } else {
        // Any other box streams through as it comes (size 0: to the end of the stream).
        let remaining = box.end;
        while (remaining > 0) {
          if (!await fill(1)) {
            if (remaining === Infinity) return;
            throw invalidSegment("the stream ends inside a box");
          }
          const piece = queue.takeUpTo(remaining);
          remaining -= piece.length;
          position += piece.length;
          yield piece;
        }
      }
    }
  } finally {
    if (!done) await reader.return?.();
  }
}
