/**
 * Server-side ClearKey decryption in direct mode: the decryption mode of the direct-mode
 * manifests (`key_id`/`key` on `/proxy/mpd/manifest.m3u8` and `/proxy/hls/manifest.m3u8`
 * send init sections and segments through `/proxy/decrypt`), and that endpoint, served
 * under the `/proxy/stream` rules and credential.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { bytesToHex } from "../secrets/mod.ts";
import type { DecryptUri } from "../stream/dash/mod.ts";
import {
  type DecryptKeys,
  decryptLink,
  decryptRequests,
  decryptResponse,
  decryptUpstreamHeaders,
  fetchInitInfo,
  InitMemo,
  type InitSource,
  keyForKid,
  parseDecryptKeys,
  parseInitRange,
  rewriteForDecryption,
} from "../stream/drm/mod.ts";
import {
  type DirectPlan,
  parseDestination,
  screenContentType,
  upstreamHeaders,
} from "../stream/direct/mod.ts";
import type { DirectLinkOptions, PlaylistDecryption } from "../stream/hls/mod.ts";
import type { RequestContext } from "./context.ts";
import { admitDirectRequest, type DirectAccess, directManifestFetch } from "./direct_access.ts";

/** How the direct-mode manifests write links in decryption mode. */
export interface ManifestDecryption {
  /** For `serveDirectMpd`'s `decrypt` option. */
  readonly mpd: (links: DirectLinkOptions, secure: boolean) => DecryptUri;
  /** For `serveDirectPlaylist`'s `decrypt` option. */
  readonly hls: PlaylistDecryption;
}

function requireDecryption(ctx: RequestContext): void {
  if (!ctx.plan.config.drm.enabled) {
    throw new ProxyError(404, "not_found", "decryption is not enabled (drm.enabled)");
  }
}

/**
 * The decryption mode of a direct-mode manifest request: null without `key_id`/`key`;
 * otherwise init sections and segments link to `/proxy/decrypt` with the request's keys.
 * Throws 400 for malformed keys, 404 when `drm.enabled` is off.
 *
 * @example
 * ```ts
 * const decryption = manifestDecryption(ctx, url);
 * ```
 */
export function manifestDecryption(ctx: RequestContext, url: URL): ManifestDecryption | null {
  const keys = parseDecryptKeys(url);
  if (keys === null) return null;
  requireDecryption(ctx);
  return {
    mpd: (links, secure) => (segment, init) =>
      decryptLink(segment, init, { ...links, keys, secure }),
    hls: (text, context) =>
      rewriteForDecryption(text, {
        playlistUrl: context.playlistUrl,
        resolve: context.resolve,
        link: (segment, init) =>
          decryptLink(segment, init, { ...context.links, keys, secure: context.secure }),
      }),
  };
}

/** Parsed init descriptions, one memo per direct plan (a reload starts a new one). */
const initMemos = new WeakMap<DirectPlan, InitMemo>();

function memoOf(direct: DirectPlan): InitMemo {
  let memo = initMemos.get(direct);
  if (!memo) {
    memo = new InitMemo();
    initMemos.set(direct, memo);
  }
  return memo;
}

function keySourceOf(ctx: RequestContext, url: URL): string | null {
  const name = url.searchParams.get("key_source");
  if (name === null || name === "") return null;
  if (!ctx.plan.keys.hasSource(name)) {
    throw new ProxyError(400, "bad_request", "key_source names no configured key source");
  }
  return name;
}

function keyLookup(ctx: RequestContext, keys: DecryptKeys, source: string | null) {
  return (kid: Uint8Array) =>
    keyForKid(
      keys,
      kid,
      async (k) => (await ctx.plan.keys.lookup([k], { source })).get(bytesToHex(k)),
    );
}

/**
 * `/proxy/decrypt/<name>?d=<URL>[&i=<init URL>[&ir=<length>@<offset>]]&key_id=…&key=…`:
 * fetches `d` under the `/proxy/stream` rules (the client's `Range` passed on) and answers
 * it decrypted. `i` is the init section a media segment needs.
 *
 * @example
 * ```ts
 * app.all("/proxy/decrypt/:name", (c) => serveDecryptedSegment(c.get("ctx")));
 * ```
 */
export async function serveDecryptedSegment(
  ctx: RequestContext,
  access: DirectAccess = { url: ctx.url, claims: null },
): Promise<Response> {
  ctx.route = "direct_decrypt";
  try {
    if (!ctx.plan.direct) throw new ProxyError(404, "not_found", "/proxy/stream is not enabled");
    requireDecryption(ctx);
    const { direct, url, target, overrides } = await admitDirectRequest(ctx, access);
    const method = ctx.request.method;
    const keys = parseDecryptKeys(url);
    if (keys === null) throw new ProxyError(400, "bad_request", "key_id or key is required");
    const initText = url.searchParams.get("i");
    const init: InitSource | null = initText === null ? null : {
      url: parseDestination(initText, "i"),
      range: parseInitRange(url.searchParams.get("ir")),
    };
    const source = keySourceOf(ctx, url);
    const headers = decryptUpstreamHeaders(upstreamHeaders(ctx.request.headers, overrides));
    const fetch = directManifestFetch(ctx, direct);
    const max = ctx.plan.config.drm.decrypt_max_segment_bytes;
    const loadInit = init === null ? null : () =>
      memoOf(direct).get(
        `${init.url.href} ${init.range?.offset}-${init.range?.length} ${
          JSON.stringify([...overrides])
        }`,
        () => fetchInitInfo(fetch, init, headers, max),
      );
    ctx.bytesMode = "direct";
    const { response } = await fetch(target, headers);
    const answer = await decryptResponse(screenContentType(response, direct.contentTypes), {
      keyFor: keyLookup(ctx, keys, source),
      loadInit,
      maxFragmentBytes: max,
      method,
    });
    decryptRequests.labels("ok").inc();
    return answer;
  } catch (error) {
    decryptRequests.labels(error instanceof ProxyError ? error.reason : "internal").inc();
    throw error;
  }
}
