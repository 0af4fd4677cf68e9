/**
 * Signed links in playlists: a playlist served to a request that came with a signed URL
 * links to signed URLs of its own (same expiry, same client address), so the player never
 * needs the API credential and the destinations stay inside the tokens.
 *
 * Minting is asynchronous (WebCrypto) while playlist rewriting is a synchronous pass, so the
 * rewrite writes placeholders and {@linkcode SignedLinkWriter.finish} mints every token of
 * the playlist concurrently and puts them in.
 * @module
 */
import type { TokenKeys } from "../../policy/mod.ts";

interface PendingLink {
  readonly endpoint: string;
  readonly params: readonly (readonly [string, string])[];
  readonly filename: string | null;
}

/** What every minted link shares with the token the request came with. */
export interface SignedLinkTemplate {
  /** Expiry of the request's token (unix seconds): links never outlive it. */
  readonly exp: number;
  /** The client address the request's token is bound to, or null. */
  readonly ip: string | null;
  /** Prepended to `/_token_…`; empty for root-relative links. */
  readonly prefix?: string;
}

/**
 * Collects the links of one playlist and mints them as signed URLs.
 *
 * @example
 * ```ts
 * const signed = new SignedLinkWriter(keys, { exp: claims.exp, ip: claims.ip });
 * const text = rewritePlaylist(source, { playlistUrl, resolve: directModeResolver({ signed }) });
 * return await signed.finish(text);
 * ```
 */
export class SignedLinkWriter {
  #keys: TokenKeys;
  #template: SignedLinkTemplate;
  #pending: PendingLink[] = [];
  #marker = `sproxlink${crypto.randomUUID().replaceAll("-", "")}x`;

  constructor(keys: TokenKeys, template: SignedLinkTemplate) {
    this.#keys = keys;
    this.#template = template;
  }

  /**
   * A placeholder for the signed URL of `endpoint` with `params` (and `/<filename>` after
   * the endpoint path); letters and digits only, so it is safe wherever a URI goes.
   */
  link(
    endpoint: string,
    params: readonly (readonly [string, string])[],
    filename: string | null = null,
  ): string {
    this.#pending.push({ endpoint, params, filename });
    return `${this.#marker}${this.#pending.length - 1}y`;
  }

  /** `text` with every placeholder replaced by its signed URL. */
  async finish(text: string): Promise<string> {
    if (this.#pending.length === 0) return text;
    const prefix = this.#template.prefix ?? "";
    const urls = await Promise.all(this.#pending.map(async (link) => {
      const token = await this.#keys.issue({
        endpoint: link.endpoint,
        params: link.params,
        exp: this.#template.exp,
        ip: this.#template.ip,
      });
      const name = link.filename === null ? "" : `/${encodeURIComponent(link.filename)}`;
      return `${prefix}/_token_${token}${link.endpoint}${name}`;
    }));
    this.#pending = [];
    const pattern = new RegExp(`${this.#marker}(\\d+)y`, "g");
    return text.replace(pattern, (whole, index: string) => urls[Number(index)] ?? whole);
  }
}
