/**
 * `/proxy/decrypt/<name>`: an fMP4 init section or media segment fetched under the
 * `/proxy/stream` rules and answered clear, decrypted fragment by fragment as it streams.
 * The init a media segment needs (`i`, `ir`) is fetched once and its description kept in a
 * small memo shared by the segments of a stream.
 * @module
 */
import client from "prom-client";
import { ProxyError } from "../../errors/mod.ts";
import { readBounded } from "../../net/mod.ts";
import { PARTIAL_OR_CONDITIONAL_HEADERS } from "../../cache/mod.ts";
import { sliceBody } from "../dash/mod.ts";
import { directResponseHeaders } from "../../routing/mod.ts";
import { registry } from "../../telemetry/mod.ts";
import {
  decryptFragments,
  importContentKey,
  type InitInfo,
  invalidSegment,
  readBoxHeader,
  readInit,
} from "./cenc/mod.ts";
import type { ContentKey } from "./cenc/mod.ts";

/** Requests to `/proxy/decrypt`, by outcome (`ok` or the error reason). */
export const decryptRequests = new client.Counter({
  name: "sprox_decrypt_requests_total",
  help: "Requests to /proxy/decrypt, by outcome (ok or the error reason).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

/** Fetches a destination under the `/proxy/stream` rules. */
export type DecryptFetch = (target: URL, headers: Headers) => Promise<{ response: Response }>;

/** The init section a media segment refers to. */
export interface InitSource {
  readonly url: URL;
  readonly range: { readonly offset: number; readonly length: number } | null;
}

/**
 * Upstream request headers for a decrypt request: the client's `Range` kept, conditionals not
 * (they would make the upstream answer about bytes the client never saw).
 */
export function decryptUpstreamHeaders(headers: Headers): Headers {
  const out = new Headers(headers);
  for (const name of PARTIAL_OR_CONDITIONAL_HEADERS) if (name !== "range") out.delete(name);
  out.set("accept-encoding", "identity");
  return out;
}

/**
 * Fetches an init section and reads its protection. Throws 502 `upstream_bad_response` for
 * an answer other than 200/206, 502 `segment_invalid` when it holds no `moov`.
 */
export async function fetchInitInfo(
  fetch: DecryptFetch,
  init: InitSource,
  headers: Headers,
  maxBytes: number,
): Promise<InitInfo> {
  const request = decryptUpstreamHeaders(headers);
  request.delete("range");
  if (init.range) {
    request.set("range", `bytes=${init.range.offset}-${init.range.offset + init.range.length - 1}`);
  }
  const { response } = await fetch(init.url, request);
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel().catch(() => {});
    throw new ProxyError(502, "upstream_bad_response", "the init section could not be fetched");
  }
  // An origin that ignored the range: only the bytes asked for are read, not the whole file.
  const body = response.status === 200 && init.range
    ? sliceBody(response.body, init.range.offset, init.range.length)
    : response.body;
  const bytes = await readBounded(
    body,
    maxBytes,
    () => new ProxyError(502, "segment_too_large", "the init section exceeds the size bound"),
  );
  // An init range may end inside a following box (a `sidx`): only the moov must be whole.
  for (let at = 0, box; (box = readBoxHeader(bytes, at, bytes.length)) !== null; at = box.end) {
    if (box.type !== "moov") continue;
    if (box.end > bytes.length) throw invalidSegment("the init section is truncated");
    return readInit(bytes, box);
  }
  throw invalidSegment("the init section has no 'moov' box");
}

/**
 * Init descriptions by source, kept for `ttlMs` and at most `max` of them; a load in flight
 * is shared by every request that needs it.
 *
 * @example
 * ```ts
 * const memo = new InitMemo();
 * const info = await memo.get(key, () => fetchInitInfo(fetch, init, headers, max));
 * ```
 */
export class InitMemo {
  #entries = new Map<string, { at: number; value: Promise<InitInfo> }>();
  #max: number;
  #ttlMs: number;

  constructor(options: { max?: number; ttlMs?: number } = {}) {
    this.#max = options.max ?? 256;
    this.#ttlMs = options.ttlMs ?? 300_000;
  }

  /** The description under `key`, loaded with `load` when absent or expired. */
  get(key: string, load: () => Promise<InitInfo>, now = Date.now()): Promise<InitInfo> {
    const found = this.#entries.get(key);
    if (found && now - found.at < this.#ttlMs) return found.value;
    const value = load();
    this.#entries.delete(key);
    this.#entries.set(key, { at: now, value });
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return value;
  }
}

/** What {@linkcode decryptResponse} needs besides the upstream answer. */
export interface DecryptResponseOptions {
  /** The raw key of a KID (throws 400 `key_unavailable` when there is none). */
  readonly keyFor: (kid: Uint8Array) => Promise<Uint8Array>;
  /** The init description, for a media segment without its own `moov`. */
  readonly loadInit: (() => Promise<InitInfo>) | null;
  readonly maxFragmentBytes: number;
  readonly method: string;
}

/**
 * The clear answer for an upstream fMP4 response (200, or 206 with `Content-Range` for a
 * byte range that covers whole boxes). Headers follow the direct-mode policy, without
 * `ETag` and `Accept-Ranges` (they described the encrypted bytes); the length is unchanged.
 * The boxes up to the first clear `moov` or fragment are read before the answer starts, so
 * a failure there is a status; a later one cuts the body short.
 *
 * @example
 * ```ts
 * return await decryptResponse(upstream, { keyFor, loadInit, maxFragmentBytes, method: "GET" });
 * ```
 */
export async function decryptResponse(
  upstream: Response,
  options: DecryptResponseOptions,
): Promise<Response> {
  if (upstream.status === 404 || upstream.status === 410) {
    await upstream.body?.cancel().catch(() => {});
    throw new ProxyError(404, "not_found", "upstream has no such segment");
  }
  let position = 0;
  if (upstream.status === 206) {
    const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(upstream.headers.get("content-range") ?? "");
    if (!match) {
      await upstream.body?.cancel().catch(() => {});
      throw new ProxyError(502, "upstream_bad_response", "upstream sent 206 without Content-Range");
    }
    position = Number(match[1]);
  } else if (upstream.status !== 200) {
    await upstream.body?.cancel().catch(() => {});
    throw new ProxyError(
      502,
      "upstream_bad_response",
      `upstream answered ${upstream.status} for the segment`,
    );
  }
  const headers = directResponseHeaders(upstream.headers);
  for (const name of ["etag", "accept-ranges", "content-md5", "digest"]) headers.delete(name);
  if (upstream.headers.has("content-encoding")) {
    // fetch decoded the body: its length is no longer the one announced.
    headers.delete("content-encoding");
    headers.delete("content-length");
  }
  if (options.method === "HEAD" || upstream.body === null) {
    await upstream.body?.cancel().catch(() => {});
    return new Response(null, { status: upstream.status, headers });
  }
  const keys = new Map<string, Promise<ContentKey>>();
  let cleared = 0;
  const fragments = decryptFragments(upstream.body, {
    maxFragmentBytes: options.maxFragmentBytes,
    position,
    loadInit: options.loadInit ?? undefined,
    onClear: () => cleared++,
    keyFor: (kid) => {
      const name = kid.join(",");
      let key = keys.get(name);
      if (!key) {
        key = options.keyFor(kid).then(importContentKey);
        keys.set(name, key);
      }
      return key;
    },
  });
  // Everything up to the first clear moov or fragment (a styp, a sidx, then one fragment:
  // within the fragment bound) is read before answering, so its failures are statuses.
  const primed: Uint8Array[] = [];
  let done = false;
  while (cleared === 0 && !done) {
    const next = await fragments.next();
    if (next.done) done = true;
    else primed.push(next.value);
  }
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const ready = primed.shift();
      if (ready) return controller.enqueue(ready);
      const next = done ? { done: true as const, value: undefined } : await fragments.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await fragments.return(undefined);
    },
  }, { highWaterMark: 0 });
  return new Response(body, { status: upstream.status, headers });
}
