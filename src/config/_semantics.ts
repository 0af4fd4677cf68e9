/**
 * Rules the schema alone cannot express: cross-field requirements, files that must be
 * readable, listener conflicts, and warnings for dangerous choices.
 */
import {
  AdminSchema,
  type AllowRuleConfig,
  AllowRuleSchema,
  AuthSchema,
  ClientIpSchema,
  type Config,
  DashSchema,
  DirectStreamSchema,
  HeaderPolicySchema,
  HlsSchema,
  ListenSchema,
  type RouteConfig,
  RouteDrmSchema,
  SecretsSchema,
  StateSchema,
  TokensSchema,
  UpstreamSchema,
} from "./schema.ts";
import { parseIp, parseSocketAddress } from "../net/mod.ts";

/** A route whose blocks are present only when they passed the schema on their own. */
export type PartialRoute = { [K in keyof RouteConfig]?: RouteConfig[K] };

/** The parts of a configuration that passed the schema, for rules that can still run. */
export interface PartialConfig {
  readonly routes: readonly PartialRoute[];
  readonly direct_stream?: Config["direct_stream"];
  /** Allowlist rules that parsed on their own (holes where a rule did not). */
  readonly direct_allowlist?: readonly (AllowRuleConfig | undefined)[];
  readonly client_ip?: Config["client_ip"];
  readonly auth?: Config["auth"];
  readonly admin?: Config["admin"];
  readonly secrets?: Config["secrets"];
  readonly state?: Config["state"];
  readonly tokens?: Config["tokens"];
}

function parsePart<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  value: unknown,
): T | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

/**
 * Parses each block of a raw configuration on its own, so semantic rules can report on the
 * blocks that are valid even when other blocks are not.
 */
export function partialConfig(raw: unknown): PartialConfig {
  const root = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const routes = Array.isArray(root.routes) ? root.routes : [];
  return {
    routes: routes.map((r) => {
      const route = (typeof r === "object" && r !== null ? r : {}) as Record<string, unknown>;
      return {
        id: typeof route.id === "string" ? route.id : undefined,
        listen: parsePart(ListenSchema, route.listen),
        host_patterns: Array.isArray(route.host_patterns) &&
            route.host_patterns.every((h) => typeof h === "string")
          ? route.host_patterns as string[]
          : undefined,
        upstream: parsePart(UpstreamSchema, route.upstream),
        headers: parsePart(HeaderPolicySchema, route.headers ?? {}),
        hls: parsePart(HlsSchema, route.hls ?? {}),
        dash: parsePart(DashSchema, route.dash ?? {}),
        drm: parsePart(RouteDrmSchema, route.drm ?? {}),
      };
    }),
    direct_stream: root.direct_stream === undefined || root.direct_stream === null
      ? null
      : parsePart(DirectStreamSchema, root.direct_stream),
    direct_allowlist:
      Array.isArray((root.direct_stream as Record<string, unknown> | null)?.allowlist)
        ? ((root.direct_stream as Record<string, unknown>).allowlist as unknown[]).map((r) =>
          parsePart(AllowRuleSchema, r)
        )
        : undefined,
    client_ip: parsePart(ClientIpSchema, root.client_ip ?? {}),
    auth: parsePart(AuthSchema, root.auth ?? {}),
    admin: parsePart(AdminSchema, root.admin ?? {}),
    secrets: parsePart(SecretsSchema, root.secrets ?? {}),
    state: parsePart(StateSchema, root.state ?? {}),
    tokens: parsePart(TokensSchema, root.tokens ?? {}),
  };
}

/** A problem found by a semantic rule, before it is given a file position. */
export interface SemanticIssue {
  readonly path: PropertyKey[];
  readonly message: string;
  readonly severity: "error" | "warning";
}

/** Checks that a file exists and can be read, naming the sandbox when it is the cause. */
export function checkReadable(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return `must name a file: "${path}" is not a regular file`;
    const file = Deno.openSync(path, { read: true });
    file.close();
    return undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `must name an existing file: "${path}" not found`;
    }
    if (error instanceof Deno.errors.NotCapable) {
      return `cannot be read: "${path}" is outside the read permission of the sProx sandbox ` +
        `(--allow-read: the config directory, var/, /config, /etc/sprox); move it there`;
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return `cannot be read: permission denied on "${path}"`;
    }
    return `cannot be read: "${path}": ${(error as Error).message}`;
  }
}

const HOST_LABEL = /^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** Validates a host glob such as `*.vod.example.com`. */
export function checkHostPattern(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  const labels = pattern.toLowerCase().replace(/\.$/, "").split(".");
  if (labels.some((l) => !HOST_LABEL.test(l))) {
    return `must be a host name or glob such as "*.example.com": current value is "${pattern}"`;
  }
  return undefined;
}

const SOCKS_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function listenerKey(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Every semantic problem and warning of the parts of a configuration that passed the schema. */
export function checkSemantics(config: PartialConfig): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const error = (path: PropertyKey[], message: string) =>
    issues.push({ path, message, severity: "error" });
  const warn = (path: PropertyKey[], message: string) =>
    issues.push({ path, message, severity: "warning" });

  const ids = new Map<string, number>();
  const byPort = new Map<number, ListenerSummary>();
  const hostsByListener = new Map<string, Map<string, number>>();

  config.routes.forEach((route, i) => {
    const at = (...rest: PropertyKey[]) => ["routes", i, ...rest];
    if (route.id !== undefined) {
      const previousId = ids.get(route.id);
      if (previousId !== undefined) {
        error(at("id"), `must be unique: "${route.id}" is also routes[${previousId}].id`);
      } else ids.set(route.id, i);
    }
    if (route.listen) checkListener(route.listen, i, byPort, error);
    if (route.listen && route.host_patterns) {
      const key = listenerKey(route.listen.host, route.listen.port);
      const hosts = hostsByListener.get(key) ?? new Map<string, number>();
      hostsByListener.set(key, hosts);
      route.host_patterns.forEach((pattern, j) => {
        const problem = checkHostPattern(pattern);
        if (problem) return error(at("host_patterns", j), problem);
        const normal = pattern.toLowerCase().replace(/\.$/, "");
        const owner = hosts.get(normal);
        if (owner !== undefined && owner !== i) {
          error(
            at("host_patterns", j),
            `conflicts with routes[${owner}]: "${pattern}" is already served on listener ${key}`,
          );
        } else hosts.set(normal, i);
      });
    }
    if (route.listen) checkListenTls(route.listen, at, error, warn);
    if (route.upstream) checkUpstream(route.upstream, at, error, warn);
    if (route.hls) checkHls(route.hls, at, error);
    if (route.headers) {
      for (
        const [k, list] of [["allow", route.headers.allow], ["deny", route.headers.deny]] as const
      ) {
        list.forEach((name, j) => {
          if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
            error(at("headers", k, j), `must be an HTTP header name: current value is "${name}"`);
          }
        });
      }
    }
  });

  const direct = config.direct_stream;
  if (direct && direct.enabled) {
    checkDirectStream(direct, config.auth?.bearer_token ?? null, error, warn);
  } else if (direct === undefined && config.direct_allowlist) {
    checkAllowlist(config.direct_allowlist, error);
  }
  if (config.admin) checkAdmin(config.admin, byPort, error, warn);
  if (config.secrets) checkKeySources(config.secrets, config.routes, error);
  checkSecretStrength([
    [["auth", "bearer_token"], config.auth?.bearer_token],
    [["direct_stream", "api_password"], config.direct_stream?.api_password],
    [["admin", "bearer_token"], config.admin?.bearer_token],
  ], warn);
  if (config.state?.redis_url && config.tokens && !config.tokens.aes_key) {
    // Keys reach Redis only sealed with tokens.aes_key; without it they are not shared.
    warn(
      ["state", "redis_url"],
      "is set without tokens.aes_key (AES_KEY): keys added at run time stay on the instance " +
        "that received them, since they are written to Redis only encrypted with that key",
    );
  }
  config.client_ip?.trusted_proxies.forEach((cidr, i) => {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(cidr)) {
      error(
        ["client_ip", "trusted_proxies", i],
        `must be an IP or CIDR: current value is "${cidr}"`,
      );
    }
  });
  return issues;
}

type Report = (path: PropertyKey[], message: string) => void;
type At = (...rest: PropertyKey[]) => PropertyKey[];

/** What routes sharing a port must agree on. */
interface ListenerSummary {
  host: string;
  index: number;
  tls: boolean;
  http3: boolean;
  certificates: string;
  hsts: string;
}

/**
 * One port binds one address; routes sharing it must agree on TLS, on HTTP/3 and on the
 * per-hostname certificates.
 */
function checkListener(
  listen: RouteConfig["listen"],
  i: number,
  byPort: Map<number, ListenerSummary>,
  error: Report,
): void {
  const other = byPort.get(listen.port);
  const certificates = JSON.stringify(listen.tls.certificates ?? []);
  const hsts = JSON.stringify(listen.tls.hsts ?? {});
  if (!other) {
    byPort.set(listen.port, {
      host: listen.host,
      index: i,
      tls: listen.tls.enabled,
      http3: listen.http3 ?? false,
      certificates,
      hsts,
    });
    return;
  }
  const key = listenerKey(listen.host, listen.port);
  if (other.host === listen.host && other.http3 !== (listen.http3 ?? false)) {
    error(
      ["routes", i, "listen", "http3"],
      `conflicts with routes[${other.index}]: routes on listener ${key} must agree on http3`,
    );
  }
  if (other.host === listen.host && other.hsts !== hsts) {
    error(
      ["routes", i, "listen", "tls", "hsts"],
      `conflicts with routes[${other.index}]: routes on listener ${key} must agree on hsts`,
    );
  }
  if (other.host === listen.host && other.certificates !== certificates) {
    error(
      ["routes", i, "listen", "tls", "certificates"],
      `conflicts with routes[${other.index}]: routes on listener ${key} must list the same certificates`,
    );
  }
  if (other.host !== listen.host) {
    error(
      ["routes", i, "listen", "host"],
      `conflicts with routes[${other.index}].listen: port ${listen.port} is bound on ` +
        `"${other.host}" and "${listen.host}"`,
    );
  } else if (other.tls !== listen.tls.enabled) {
    error(
      ["routes", i, "listen", "tls", "enabled"],
      `conflicts with routes[${other.index}]: listener ${
        listenerKey(listen.host, listen.port)
      } cannot be both TLS and plain`,
    );
  }
}

function checkListenTls(
  listen: RouteConfig["listen"],
  at: At,
  error: Report,
  warn: Report,
): void {
  const tls = listen.tls;
  if (listen.http3 && !tls.enabled) {
    error(at("listen", "http3"), "needs tls.enabled: HTTP/3 runs over QUIC, which is always TLS");
  }
  const certificates = tls.certificates ?? [];
  if (certificates.length > 0 && !tls.enabled) {
    error(at("listen", "tls", "certificates"), "needs tls.enabled");
  }
  if (tls.enabled) {
    certificates.forEach((certificate, j) => {
      for (const field of ["certificate_path", "private_key_path"] as const) {
        const problem = checkReadable(certificate[field]);
        if (problem) error(at("listen", "tls", "certificates", j, field), problem);
      }
    });
  }
  if (tls.enabled) {
    for (const field of ["certificate_path", "private_key_path"] as const) {
      const file = tls[field];
      if (file === null) error(at("listen", "tls", field), "is required when tls.enabled is true");
      else {
        const problem = checkReadable(file);
        if (problem) error(at("listen", "tls", field), problem);
      }
    }
  }
  const hsts = tls.hsts;
  if (hsts?.enabled && !tls.enabled) {
    error(
      at("listen", "tls", "hsts", "enabled"),
      "needs tls.enabled: HSTS is sent over HTTPS only (RFC 6797 §7.2)",
    );
  }
  if (hsts?.enabled && hsts.preload && (!hsts.include_subdomains || hsts.max_age_secs < 31536000)) {
    warn(
      at("listen", "tls", "hsts", "preload"),
      "needs include_subdomains and max_age_secs >= 31536000 to be accepted by preload lists",
    );
  }
  if (tls.acme.enabled && tls.acme.contact_emails.length === 0) {
    warn(at("listen", "tls", "acme", "contact_emails"), "is empty: ACME accounts need a contact");
  }
}

function checkUpstream(
  upstream: RouteConfig["upstream"],
  at: At,
  error: Report,
  warn: Report,
): void {
  const tls = upstream.tls;
  const listed = upstream.origins ?? [];
  if (upstream.origin !== null && listed.length > 0) {
    error(
      at("upstream", "origins"),
      "cannot be combined with upstream.origin: list every origin under origins",
    );
  } else if (upstream.origin === null && listed.length === 0) {
    error(at("upstream", "origin"), "is required (or list several under upstream.origins)");
  }
  const origins: [URL, PropertyKey[]][] = upstream.origin !== null
    ? [[new URL(upstream.origin), at("upstream", "origin")]]
    : listed.map((o, j) => [new URL(o.url), at("upstream", "origins", j, "url")]);
  const seen = new Map<string, number>();
  origins.forEach(([origin, path], j) => {
    if (origin.search || origin.hash) error(path, "must not carry a query or fragment");
    if (origin.username || origin.password) {
      error(path, "must not carry credentials (user:pass@)");
    }
    const earlier = seen.get(origin.href);
    if (earlier !== undefined) {
      error(path, `must be unique: "${origin.href}" is also upstream.origins[${earlier}]`);
    } else seen.set(origin.href, j);
  });
  if (origins.some(([origin]) => origin.protocol === "https:") && !tls.enabled) {
    error(at("upstream", "tls", "enabled"), "must be true when the origin is https://");
  }
  const check = upstream.health_check;
  if (check?.enabled && check.timeout_ms > check.interval_ms) {
    warn(
      at("upstream", "health_check", "timeout_ms"),
      `is longer than interval_ms (${check.interval_ms}): checks of a slow origin overlap`,
    );
  }
  if (tls.insecure_skip_verify) {
    warn(
      at("upstream", "tls", "insecure_skip_verify"),
      "is true: upstream certificates are NOT verified (testing only; open to MITM)",
    );
  }
  const overridesTls = tls.insecure_skip_verify ||
    origins.some(([origin]) =>
      tls.sni_hostname !== null && tls.sni_hostname.toLowerCase() !== origin.hostname
    );
  if (overridesTls && upstream.socks5.enabled) {
    warn(
      at("upstream", "tls"),
      "sni_hostname/insecure_skip_verify are not applied through SOCKS5: the origin host " +
        "is the TLS name and certificates are verified",
    );
  }
  if (tls.ca_bundle_path !== null) {
    const problem = checkReadable(tls.ca_bundle_path);
    if (problem) error(at("upstream", "tls", "ca_bundle_path"), problem);
  }
  const socks = upstream.socks5;
  if (socks.enabled) {
    if (socks.address === null) {
      error(at("upstream", "socks5", "address"), "is required when socks5.enabled is true");
    } else if (!SOCKS_ADDRESS.test(socks.address)) {
      error(
        at("upstream", "socks5", "address"),
        `must be "host:port": current value is "${socks.address}"`,
      );
    } else {
      const port = Number(SOCKS_ADDRESS.exec(socks.address)![2]);
      if (port < 1 || port > 65535) {
        error(
          at("upstream", "socks5", "address"),
          `port must be 1-65535: current value is ${port}`,
        );
      }
    }
    if ((socks.username === null) !== (socks.password === null)) {
      error(at("upstream", "socks5"), "username and password must be set together");
    }
  }
  if (upstream.retry.max_backoff_ms < upstream.retry.initial_backoff_ms) {
    error(at("upstream", "retry", "max_backoff_ms"), "must be >= initial_backoff_ms");
  }
}

function checkHls(hls: RouteConfig["hls"], at: At, error: Report): void {
  if (hls.rewrite_playlist_urls && hls.base_url === null) {
    error(at("hls", "base_url"), "is required when rewrite_playlist_urls is true");
  }
  if (hls.base_url !== null && !hls.base_url.startsWith("https://")) {
    if (!hls.base_url.startsWith("http://")) {
      error(at("hls", "base_url"), "must be an http(s) URL");
    } else if (!hls.allow_insecure_segments) {
      error(
        at("hls", "base_url"),
        "must be https:// unless allow_insecure_segments is true (mixed content exposes sessions)",
      );
    }
  }
}

function checkDirectStream(
  direct: NonNullable<Config["direct_stream"]>,
  bearer: string | null,
  error: Report,
  warn: Report,
): void {
  checkAllowlist(direct.allowlist, error);
  if (direct.public_ip !== null && !parseIp(direct.public_ip)) {
    error(["direct_stream", "public_ip"], `must be an IP address: "${direct.public_ip}"`);
  }
  if (direct.allowlist.length === 0) {
    warn(["direct_stream", "allowlist"], "is empty: every /proxy/stream destination is refused");
  }
  if (direct.allow_private_networks) {
    warn(
      ["direct_stream", "allow_private_networks"],
      "is true: the SSRF guard is OFF (labs and tests only)",
    );
  }
  Object.entries(direct.hosts).forEach(([name, addresses]) => {
    addresses.forEach((address, j) => {
      if (!parseIp(address)) {
        error(["direct_stream", "hosts", name, j], `must be an IP address: "${address}"`);
      }
    });
  });
  direct.private_network_exceptions.forEach((socket, i) => {
    if (!parseSocketAddress(socket)) {
      error(
        ["direct_stream", "private_network_exceptions", i],
        `must be "address:port" (IPv6 in brackets): "${socket}"`,
      );
    }
  });
  if (direct.private_network_exceptions.length > 0) {
    warn(
      ["direct_stream", "private_network_exceptions"],
      "lets /proxy/stream reach these private sockets (labs and tests only)",
    );
  }
  if (direct.api_password === null && bearer === null) {
    warn(["direct_stream", "api_password"], "is not set: /proxy/stream is open to any caller");
  }
}

function checkAllowlist(rules: readonly (AllowRuleConfig | undefined)[], error: Report): void {
  rules.forEach((rule, i) => {
    if (!rule) return;
    const at = ["direct_stream", "allowlist", i];
    const domain = rule.domain.toLowerCase();
    const bare = domain.startsWith("*.") ? domain.slice(2) : domain;
    if (
      bare.includes("*") || bare.includes("/") || bare.includes(":") ||
      checkHostPattern(bare) !== undefined
    ) {
      error(
        [...at, "domain"],
        `must be a host name or "*.example.com": current value is "${rule.domain}"`,
      );
    }
    rule.paths.forEach((path, j) => {
      if (path.includes("..") || /[?#]/.test(path)) {
        error([...at, "paths", j], `must be a path glob without "..", "?" or "#": "${path}"`);
      }
    });
  });
}

/** Loopback addresses: an admin listener elsewhere is reachable from the network. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** The admin listener: a token when enabled, its own port, a warning off loopback. */
function checkAdmin(
  admin: Config["admin"],
  byPort: Map<number, ListenerSummary>,
  error: Report,
  warn: Report,
): void {
  if (!admin.enabled) return;
  if (admin.bearer_token === null) {
    error(
      ["admin", "bearer_token"],
      "is required when admin.enabled is true (or set SPROX_ADMIN_TOKEN)",
    );
  }
  const route = byPort.get(admin.listen.port);
  if (route) {
    error(
      ["admin", "listen", "port"],
      `conflicts with routes[${route.index}].listen: port ${admin.listen.port} is a route listener`,
    );
  }
  if (!isLoopback(admin.listen.host)) {
    warn(
      ["admin", "listen", "host"],
      `is not a loopback address: the admin API on "${admin.listen.host}" is reachable from ` +
        "the network (its token is then the only guard)",
    );
  }
}

/** The spec's rule for shared secrets: at least 16 characters, upper- and lower-case letters. */
const MIN_SECRET_CHARS = 16;

/**
 * Warns about weak credentials (the value itself is never part of the message): shorter
 * than 16 characters, or without both upper- and lower-case letters.
 */
function checkSecretStrength(
  secrets: readonly [PropertyKey[], string | null | undefined][],
  warn: Report,
): void {
  for (const [path, value] of secrets) {
    if (typeof value !== "string") continue;
    const problems: string[] = [];
    const length = [...value].length;
    if (length < MIN_SECRET_CHARS) {
      problems.push(`${length} characters, at least ${MIN_SECRET_CHARS} expected`);
    }
    if (!/\p{Lu}/u.test(value) || !/\p{Ll}/u.test(value)) {
      problems.push("upper- and lower-case letters expected");
    }
    if (problems.length > 0) warn(path, `is weak: ${problems.join("; ")}`);
  }
}

/**
 * Key servers: unique ids, a client certificate only with its key (and the other way
 * round), readable PEM files, and every route's `drm.key_source` naming one of them.
 */
function checkKeySources(
  secrets: Config["secrets"],
  routes: readonly PartialRoute[],
  error: Report,
): void {
  const ids = new Map<string, number>();
  secrets.key_sources.forEach((source, i) => {
    const at = (...rest: PropertyKey[]) => ["secrets", "key_sources", i, ...rest];
    const previous = ids.get(source.id);
    if (previous !== undefined) {
      error(at("id"), `must be unique: "${source.id}" is also secrets.key_sources[${previous}].id`);
    } else ids.set(source.id, i);
    const cert = source.client_certificate_path;
    const key = source.client_key_path;
    if ((cert === null) !== (key === null)) {
      error(
        at(cert === null ? "client_certificate_path" : "client_key_path"),
        "must be set together with " +
          (cert === null ? "client_key_path" : "client_certificate_path"),
      );
    }
    for (const field of ["client_certificate_path", "client_key_path", "ca_bundle_path"] as const) {
      const path = source[field];
      if (path === null) continue;
      const problem = checkReadable(path);
      if (problem) error(at(field), problem);
    }
  });
  routes.forEach((route, i) => {
    const name = route.drm?.key_source;
    if (name && !ids.has(name)) {
      error(
        ["routes", i, "drm", "key_source"],
        `must name one of secrets.key_sources[].id: "${name}" is not configured`,
      );
    }
  });
}
