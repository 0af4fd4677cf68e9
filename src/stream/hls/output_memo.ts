/**
 * Generated playlists remembered by their source: a route (or direct mode) answers every
 * viewer of a live playlist version, and every request of a VOD playlist, from one rewrite.
 * An entry is used only when the new source equals the remembered source, byte for byte (or
 * character for character), under the same key (route mode: route, client scheme, playlist
 * URL; direct mode: the request's path and query and the playlist's final URL) and the same
 * plan (a reload starts empty), so it can only ever give the output a fresh rewrite would
 * give. The headers are still built per response from that response's upstream headers; only
 * the body and the facts its validators need are remembered.
 * @module
 */
import { createHash } from "node:crypto";
import { livePlaylistCapSecs } from "../../cache/mod.ts";

/** A generated playlist body and what its `ETag` and `Cache-Control` are made of. */
export interface PlaylistOutput {
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The first 16 hex digits of the output's SHA-1 (not a security property). */
  readonly fingerprint: string;
  /** Half the target duration of a live media playlist, `null` for anything else. */
  readonly liveCapSecs: number | null;
}

const ENCODER = new TextEncoder();

/**
 * The output for `text` (its bytes when the caller holds them already).
 *
 * @example
 * ```ts
 * playlistOutput("#EXTM3U\n#EXT-X-ENDLIST\n").liveCapSecs; // null
 * ```
 */
export function playlistOutput(text: string, bytes?: Uint8Array): PlaylistOutput {
  const body = (bytes ?? ENCODER.encode(text)) as Uint8Array<ArrayBuffer>;
  return {
    bytes: body,
    fingerprint: createHash("sha1").update(body).digest("hex").slice(0, 16),
    liveCapSecs: livePlaylistCapSecs(text),
  };
}

/** Keys remembered, and their stored bytes (source and output), at most, across all plans. */
export const OUTPUT_MEMO_MAX_KEYS = 1024;
export const OUTPUT_MEMO_MAX_BYTES = 32 * 1024 * 1024;

/** A playlist's source: its bytes, or its text where the caller decoded it already. */
export type PlaylistSource = Uint8Array | string;

interface Remembered {
  readonly source: PlaylistSource;
  readonly output: PlaylistOutput;
  readonly size: number;
}

/** Byte-for-byte equality (word by word where both views allow it). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const length = a.byteLength;
  if (length !== b.byteLength) return false;
  let i = 0;
  if ((a.byteOffset & 3) === 0 && (b.byteOffset & 3) === 0) {
    const words = length >>> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (; i < words; i++) if (wa[i] !== wb[i]) return false;
    i = words << 2;
  }
  for (; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSource(a: PlaylistSource, b: PlaylistSource): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return sameBytes(a, b);
}

/** What a source weighs against the byte bound (a string: two bytes a character, at most). */
function sourceBytes(source: PlaylistSource): number {
  return typeof source === "string" ? source.length * 2 : source.byteLength;
}

/**
 * Outputs per plan scope (an object a reload replaces, such as a route's `hls` settings) and
 * key, bounded by {@linkcode OUTPUT_MEMO_MAX_KEYS} and {@linkcode OUTPUT_MEMO_MAX_BYTES} in all
 * (least recently used first out; a replaced plan's entries age out). One entry per key: a
 * new version replaces the old.
 *
 * @example
 * ```ts
 * const memo = new OutputMemo();
 * const output = memo.find(settings, key, source) ?? memo.keep(settings, key, source, fresh());
 * ```
 */
export class OutputMemo {
  readonly #scopeIds = new WeakMap<object, number>();
  #nextScope = 0;
  readonly #entries = new Map<string, Remembered>();
  #bytes = 0;

  #key(scope: object, key: string): string {
    let id = this.#scopeIds.get(scope);
    if (id === undefined) this.#scopeIds.set(scope, id = this.#nextScope++);
    return `${id}\n${key}`;
  }

  /** The output remembered for `key` if its source was exactly `source`. */
  find(scope: object, key: string, source: PlaylistSource): PlaylistOutput | undefined {
    const id = this.#key(scope, key);
    const entry = this.#entries.get(id);
    if (entry === undefined || !sameSource(entry.source, source)) return undefined;
    // Most recently used last.
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry.output;
  }

  /** Remembers `output` for `key` and `source` (replacing what the key had); returns it. */
  keep(
    scope: object,
    key: string,
    source: PlaylistSource,
    output: PlaylistOutput,
  ): PlaylistOutput {
    // An unchanged playlist's output is its source: one copy serves as both.
    const same = output.bytes === source;
    const size = same ? output.bytes.byteLength : sourceBytes(source) + output.bytes.byteLength;
    if (size > OUTPUT_MEMO_MAX_BYTES) return output;
    const id = this.#key(scope, key);
    const previous = this.#entries.get(id);
    if (previous !== undefined) {
      this.#entries.delete(id);
      this.#bytes -= previous.size;
    }
    while (
      this.#entries.size >= OUTPUT_MEMO_MAX_KEYS || this.#bytes + size > OUTPUT_MEMO_MAX_BYTES
    ) {
      const [oldestId, oldest] = this.#entries.entries().next().value!;
      this.#entries.delete(oldestId);
      this.#bytes -= oldest.size;
    }
    // Bytes are copied: the caller's may be a view of a buffer it reuses (the forwarder's,
    // the cache's); so is an output that is the source itself. A string is immutable.
    const kept = typeof source === "string" ? source : source.slice();
    this.#entries.set(id, {
      source: kept,
      output: same ? { ...output, bytes: kept as Uint8Array<ArrayBuffer> } : output,
      size,
    });
    this.#bytes += size;
    return output;
  }

  /** Keys remembered and their bytes, in all. */
  get size(): { keys: number; bytes: number } {
    return { keys: this.#entries.size, bytes: this.#bytes };
  }
}

/** The outputs of route mode and direct mode, under one bound (each under its plan's scope). */
export const PLAYLIST_OUTPUTS = new OutputMemo();
