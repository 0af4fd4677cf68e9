/**
 * Variant selection in a multivariant playlist (MediaFlow's `max_res=true` and
 * `resolution=720p`): every `#EXT-X-STREAM-INF` variant but the chosen one is dropped, so
 * a player that cannot be told which quality to play gets only that one. Everything else
 * (renditions, I-frame playlists, session data, unknown tags) stays byte for byte. Pure.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { attributeValue } from "./_attributes.ts";

/** Which variant to keep. */
export type VariantChoice =
  /** The highest resolution (then the highest bandwidth). */
  | { readonly kind: "max" }
  /** This height, else the closest lower one, else the lowest there is. */
  | { readonly kind: "height"; readonly height: number };

/**
 * The variant choice of a request: `max_res=true`, or `resolution=<height>p`; null when it
 * asks for none. A `resolution` that is not `<digits>p` is a 400.
 *
 * @example
 * ```ts
 * variantChoice(new URL("http://s/m.m3u8?resolution=720p")); // { kind: "height", height: 720 }
 * ```
 */
export function variantChoice(url: URL): VariantChoice | null {
  if (/^(true|1|yes)$/i.test(url.searchParams.get("max_res") ?? "")) return { kind: "max" };
  const resolution = url.searchParams.get("resolution");
  if (resolution === null || resolution === "") return null;
  const match = /^(\d{2,5})p?$/i.exec(resolution.trim());
  if (!match) {
    throw new ProxyError(400, "bad_request", "resolution must be a height such as 720p");
  }
  return { kind: "height", height: Number(match[1]) };
}

interface Variant {
  /** Index of the `#EXT-X-STREAM-INF` line and of its URI line. */
  readonly tagLine: number;
  readonly uriLine: number;
  readonly width: number;
  readonly height: number;
  readonly bandwidth: number;
}

function readVariants(lines: readonly string[]): Variant[] {
  const variants: Variant[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line.startsWith("#EXT-X-STREAM-INF:")) continue;
    let uri = i + 1;
    while (uri < lines.length && (lines[uri].trim() === "" || lines[uri].trim().startsWith("#"))) {
      uri++;
    }
    if (uri >= lines.length) break;
    const resolution = /^(\d+)x(\d+)$/.exec(attributeValue(line, "RESOLUTION") ?? "");
    variants.push({
      tagLine: i,
      uriLine: uri,
      width: resolution ? Number(resolution[1]) : 0,
      height: resolution ? Number(resolution[2]) : 0,
      bandwidth: Number(attributeValue(line, "BANDWIDTH") ?? 0) || 0,
    });
    i = uri;
  }
  return variants;
}

function best(candidates: readonly Variant[]): Variant {
  return candidates.reduce((a, b) =>
    b.height > a.height || (b.height === a.height && b.bandwidth > a.bandwidth) ? b : a
  );
}

function choose(variants: readonly Variant[], choice: VariantChoice): Variant | undefined {
  if (choice.kind === "max") return best(variants);
  const sized = variants.filter((v) => v.height > 0);
  if (sized.length === 0) return undefined;
  const exact = sized.filter((v) => v.height === choice.height);
  if (exact.length > 0) return best(exact);
  const lower = sized.filter((v) => v.height < choice.height);
  if (lower.length > 0) return best(lower);
  const lowest = Math.min(...sized.map((v) => v.height));
  return best(sized.filter((v) => v.height === lowest));
}

/**
 * `text` with only the chosen variant left; a media playlist, a playlist with one variant
 * or one where the choice cannot be made (no `RESOLUTION` for a height) comes back as is.
 *
 * @example
 * ```ts
 * selectVariant(multivariant, { kind: "max" });
 * ```
 */
export function selectVariant(text: string, choice: VariantChoice): string {
  const lines = text.split("\n");
  const variants = readVariants(lines);
  if (variants.length < 2) return text;
  const kept = choose(variants, choice);
  if (!kept) return text;
  const dropped = new Set<number>();
  for (const variant of variants) {
    if (variant === kept) continue;
    dropped.add(variant.tagLine);
    dropped.add(variant.uriLine);
  }
  return lines.filter((_, i) => !dropped.has(i)).join("\n");
}
