/**
 * The `/proxy/stream` destination allowlist: URL normalisation and rule matching. Pure.
 * @module
 */
import type { AllowRuleConfig } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";

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
  /** The path fully percent-decoded, `\` read as `/`, dot-segments resolved. */
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

/** Resolves `.` and `..` segments (RFC 3986 §5.2.4) of an absolute path. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split("/").slice(1);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "..") {
      if (out.length > 0) out.pop();
      if (last) out.push("");
    } else if (segment === ".") {
      if (last) out.push("");
    } else out.push(segment);
  });
  return `/${out.join("/")}`;
}

/**
 * Normalises a destination for matching. Refuses (400) userinfo, non-http(s) schemes and
 * paths that decode to control characters.
 *
 * @example
 * ```ts
 * normaliseUrl(new URL("https://CDN.example./a/%2e%2e/b")).decodedPath; // "/b"
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
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    throw new ProxyError(400, "bad_request", "d has malformed percent-encoding in its path");
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) {
    throw new ProxyError(400, "bad_request", "d has control characters in its path");
  }
  const decodedPath = removeDotSegments(decoded.replaceAll("\\", "/").replace(/\/{2,}/g, "/"));
  return { scheme, host, port, path, decodedPath };
}

function domainMatches(rule: AllowRule, host: string): boolean {
  return rule.wildcard ? host.endsWith(`.${rule.domain}`) : host === rule.domain;
}

/**
 * Whether a normalised destination matches a rule. The path must match under both readings
 * (as sent, and fully decoded with dot-segments resolved), so an origin that decodes `%2F`
 * cannot be walked outside an allowed path.
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
