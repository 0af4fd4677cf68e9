/**
 * The insecure-reference guard: in a secure context (HTTPS playlist, HTTPS client or HTTPS
 * `base_url`), a playlist referencing `http://` resources is refused.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { type ReferenceKind, type ReferenceResolver, withDirectoryMapping } from "./resolve.ts";

/** When a playlist is delivered in a secure context, and which references stay exempt. */
export interface InsecureGuardOptions {
  /** The playlist came over HTTPS, is served over HTTPS, or `base_url` is HTTPS. */
  readonly secure: boolean;
  /** `allow_insecure_segments`. */
  readonly allowInsecure: boolean;
  /** References under this prefix (the route's configured origin) are the operator's own. */
  readonly trustedPrefix?: string | null;
}

/**
 * Wraps a resolver so that, in a secure context, any `http://` reference (upstream or as
 * written) refuses the playlist with 502 `insecure_reference`.
 *
 * @example
 * ```ts
 * const guarded = guardInsecure(resolve, { secure: true, allowInsecure: false });
 * ```
 */
export function guardInsecure(
  resolve: ReferenceResolver,
  options: InsecureGuardOptions,
): ReferenceResolver {
  if (!options.secure || options.allowInsecure) return resolve;
  const trusted = options.trustedPrefix ?? null;
  const guarded = (url: string, kind: ReferenceKind, line?: string) => {
    if (url.startsWith("http:") && !(trusted !== null && url.startsWith(trusted))) {
      throw insecureReference(url);
    }
    const out = resolve(url, kind, line);
    if (out.startsWith("http:")) throw insecureReference(url);
    return out;
  };
  const inner = resolve.directoryMapping;
  if (inner === undefined) return guarded;
  // A directory maps as a whole only when no name under it can be refused.
  return withDirectoryMapping(guarded, (directory) => {
    if (directory.startsWith("http:") && !(trusted !== null && directory.startsWith(trusted))) {
      return null;
    }
    const mapped = inner(directory);
    // `/…` and `https:…` stay so whatever name follows; anything else is checked per name.
    return mapped !== null && (mapped.startsWith("/") || mapped.startsWith("https:"))
      ? mapped
      : null;
  });
}

/**
 * The refusal of an `http://` reference in a playlist served over a secure context (502
 * `insecure_reference`; the cause names the host only).
 *
 * @example
 * ```ts
 * throw insecureReference("http://cdn.example/seg1.ts");
 * ```
 */
export function insecureReference(url: string): ProxyError {
  return new ProxyError(
    502,
    "insecure_reference",
    "playlist references an http:// resource in a secure context",
    { cause: new URL(url).host },
  );
}
