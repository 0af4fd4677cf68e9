/**
 * The `/proxy/stream` destination allowlist: URL normalisation and rule matching. Pure.
 * @module
 */
import type { AllowRuleConfig } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { assertUnambiguousPath } from "../../routing/mod.ts";

/** A compiled allowlist rule. */
export interface AllowRule {
  /** Lower-case host without trailing dot; for wildcards, the suffix after `*.`. */
  readonly domain: string;
  /** `*.example.com`: any name strictly below `example.com`. */
  readonly wildcard: boolean;
  readonly schemes: ReadonlySet<string>;
  readonly paths: readonly RegExp[];
}

/** The parts of a destination the allowlist looks at. */
export interface NormalisedUrl {
  readonly scheme: "http" | "https";
  /** Lower-case, trailing dot removed, IPv6 without brackets. */
  readonly host: string;
  /** The port, with the scheme's default folded in. */
  readonly port: number;
  /** The path as sent (percent-encoding of unreserved characters decoded). */
  readonly path: string;
  /**
   * The path percent-decoded once (an unambiguous path has nothing left to decode and no
   * dot segment, `\` or encoded separator to resolve).
   */
  readonly decodedPath: string;
}

/**
 * Turns a path glob into a regular expression: `**` matches any characters (including
 * `/`), `*` any characters within one segment; a trailing `/**` also matches the bare
 * directory.
 *
 * @example
 * ```ts
 * globToRegExp("/vod/**").test("/vod/a/b.mp4"); // true
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*" && glob[i + 1] === "*") {
      i++;
      if (source.endsWith("/") && i === glob.length - 1) {
        source = source.slice(0, -1) + "(?:/.*)?";
      } else source += ".*";
    } else if (ch === "*") source += "[^/]*";
    else source += ch.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/**
 * Compiles the configured rules.
 *
 * @example
 * ```ts
 * compileAllowlist([{ domain: "*.cdn.example", schemes: ["https"], paths: ["/**"] }]);
 * ```
 */
export function compileAllowlist(rules: readonly AllowRuleConfig[]): readonly AllowRule[] {
  return rules.map((rule) => {
    const domain = rule.domain.toLowerCase().replace(/\.$/, "");
    const wildcard = domain.startsWith("*.");
    return {
      domain: wildcard ? domain.slice(2) : domain,
      wildcard,
      schemes: new Set(rule.schemes),
      paths: rule.paths.map(globToRegExp),
    };
  });
}

/**
 * Normalises a destination for matching. Refuses (400) userinfo and non-http(s) schemes,
 * and (403 `ambiguous_path`) a path an origin could read differently than the allowlist
 * does: `..;`, double encoding, `%2F`, `%5C`, controls, invalid UTF-8, look-alikes (the
 * classifier shared with route forwarding, `classifyPath` in `src/net/path.ts`).
 *
 * @example
 * ```ts
 * normaliseUrl(new URL("https://CDN.example./vod/%61.mp4")).path; // "/vod/a.mp4"
 * ```
 */
export function normaliseUrl(url: URL): NormalisedUrl {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyError(400, "bad_request", "d must be an absolute http(s) URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw new ProxyError(400, "bad_request", "d must not carry credentials (userinfo)");
  }
  const scheme = url.protocol === "https:" ? "https" : "http";
  let host = url.hostname.toLowerCase();
  if (host.startsWith("[")) host = host.slice(1, -1);
  host = host.replace(/\.$/, "");
  if (host === "") throw new ProxyError(400, "bad_request", "d must name a host");
  const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
  const path = url.pathname.replace(
    /%(2[dDeE]|[3][0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g,
    (m) => {
      const ch = String.fromCharCode(parseInt(m.slice(1), 16));
      return /[A-Za-z0-9\-._~]/.test(ch) ? ch : m;
    },
  );
  // After this, the path decodes once to valid UTF-8 without controls or hidden separators.
  assertUnambiguousPath(url.pathname);
  const decodedPath = decodeURIComponent(url.pathname);
  return { scheme, host, port, path, decodedPath };
}

function domainMatches(rule: AllowRule, host: string): boolean {
  return rule.wildcard ? host.endsWith(`.${rule.domain}`) : host === rule.domain;
}

/**
 * Whether a normalised destination matches a rule. The path must match under both readings
 * (as sent, and decoded), so a rule cannot be met by an encoding an origin reads otherwise
 * (`/%76od/` is `/vod/` to every origin, `/vod%2Fx` never reaches here).
 *
 * @example
 * ```ts
 * isAllowed(rules, normaliseUrl(new URL("https://cdn.example/vod/a.mp4")));
 * ```
 */
export function isAllowed(rules: readonly AllowRule[], url: NormalisedUrl): boolean {
  return rules.some((rule) =>
    rule.schemes.has(url.scheme) && domainMatches(rule, url.host) &&
    rule.paths.some((p) => p.test(url.path)) && rule.paths.some((p) => p.test(url.decodedPath))
  );
}
