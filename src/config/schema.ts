/**
 * The one schema of `routes.yaml`. Every key, its type and its default lives here;
 * `docs/configuration.md` documents each of them (a test keeps the two in step).
 *
 * Objects are strict: an unknown key is an error, reported with a did-you-mean.
 * @module
 */
import { z } from "zod";

const MIB = 1024 * 1024;

/** A positive integer of milliseconds. */
const millis = (fallback: number) => z.number().int().positive().default(fallback);

/** An optional string that may also be written as YAML `null`. */
const nullableString = () => z.string().min(1).nullable().default(null);

/** Retry policy shared by route upstreams and `/proxy/stream` (spec: 3 attempts, 100 ms doubling to 5 s, 20 % jitter). */
export const RetrySchema = z.strictObject({
  max_attempts: z.number().int().min(1).max(10).default(3),
  initial_backoff_ms: z.number().int().min(0).default(100),
  max_backoff_ms: z.number().int().min(0).default(5000),
  jitter: z.number().min(0).max(1).default(0.2),
});

/** Process-wide retry budget (spec: 20 % of requests over 10 s, floor of 10 retries per second). */
export const RetryBudgetSchema = z.strictObject({
  ratio: z.number().min(0).max(1).default(0.2),
  window_secs: z.number().int().positive().default(10),
  min_retries_per_sec: z.number().int().min(0).default(10),
});

/** ACME cache preparation for external ACME clients. */
export const AcmeSchema = z.strictObject({
  enabled: z.boolean().default(false),
  contact_emails: z.array(z.string().email()).default([]),
  directory_url: z.url().nullable().default(null),
  cache_path: z.string().min(1).default("var/acme"),
});

/** A DNS name, optionally behind a one-label wildcard (`*.example.com`). */
const SERVER_NAME =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/** A certificate served to clients that ask for one of `server_names` by SNI. */
export const ListenCertificateSchema = z.strictObject({
  /** Exact names (`tv.example.com`) or one-label wildcards (`*.example.com`). */
  server_names: z.array(
    z.string().regex(SERVER_NAME, { message: "must be a DNS name or '*.' followed by one" }),
  ).min(1, { message: "must list at least one name" }),
  certificate_path: z.string().min(1),
  private_key_path: z.string().min(1),
});

/** HTTP Strict Transport Security of a TLS listener (RFC 6797). */
export const HstsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  max_age_secs: z.number().int().min(0).default(31536000),
  include_subdomains: z.boolean().default(false),
  preload: z.boolean().default(false),
});

/** Inbound TLS of a listener. */
export const ListenTlsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  certificate_path: nullableString(),
  private_key_path: nullableString(),
  watch_for_changes: z.boolean().default(true),
  acme: AcmeSchema.prefault({}),
  /** Per-hostname certificates chosen by SNI; other names get the pair above. */
  certificates: z.array(ListenCertificateSchema).default([]),
  /** `Strict-Transport-Security` on every response of the listener (RFC 6797). */
  hsts: HstsSchema.prefault({}),
});

/** Where a route listens. */
export const ListenSchema = z.strictObject({
  host: z.string().min(1).default("0.0.0.0"),
  port: z.number().int().min(1, { message: "must be >= 1" }).max(65535, {
    message: "must be <= 65535",
  }),
  tls: ListenTlsSchema.prefault({}),
  /** Listener concurrency limit; `null` means unlimited. */
  max_concurrent_requests: z.number().int().positive().nullable().default(null),
  /** HTTP/3 over QUIC on the same port (UDP), advertised by Alt-Svc; needs `tls.enabled`. */
  http3: z.boolean().default(false),
});

/** Outbound TLS towards the origin. */
export const UpstreamTlsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  sni_hostname: nullableString(),
  insecure_skip_verify: z.boolean().default(false),
  /** PEM bundle of extra CA certificates (internal PKI). */
  ca_bundle_path: nullableString(),
});

/** SOCKS5 tunnel towards the origin. */
export const Socks5Schema = z.strictObject({
  enabled: z.boolean().default(false),
  address: nullableString(),
  username: nullableString(),
  password: nullableString(),
});

/** An absolute http(s) URL of an origin. */
const originUrl = () => z.url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" });

/** One origin of a failover set (`upstream.origins[]`). */
export const UpstreamOriginSchema = z.strictObject({
  url: originUrl(),
  /** Lower is preferred: the next priority serves only while none of this one is healthy. */
  priority: z.number().int().min(0).max(1000).default(0),
  /** Share of the requests among the healthy origins of the same priority. */
  weight: z.number().int().min(1).max(1000).default(1),
});

/** Active health checks of a route's origins (`upstream.health_check`). */
export const HealthCheckSchema = z.strictObject({
  enabled: z.boolean().default(false),
  path: z.string().startsWith("/", { message: "must start with '/'" }).default("/health"),
  interval_ms: millis(5000),
  timeout_ms: millis(2000),
  /** Consecutive passing checks that bring an unhealthy origin back. */
  healthy_threshold: z.number().int().min(1).max(100).default(2),
  /** Consecutive failing checks that mark an origin unhealthy. */
  unhealthy_threshold: z.number().int().min(1).max(100).default(3),
});

/** Passive ejection of an origin after consecutive failed attempts (`upstream.passive_health`). */
export const PassiveHealthSchema = z.strictObject({
  /** Consecutive failed attempts (connect errors, timeouts, 5xx) that eject; 0 never ejects. */
  consecutive_failures: z.number().int().min(0).max(100).default(3),
  /** How long an ejected origin is left out before it is tried again. */
  ejection_ms: millis(10000),
});

/** Where a route forwards to. */
export const UpstreamSchema = z.strictObject({
  /** The one origin; exactly one of `origin` and `origins` is set. */
  origin: originUrl().nullable().default(null),
  /** Several origins with priorities and weights, for failover. */
  origins: z.array(UpstreamOriginSchema).default([]),
  health_check: HealthCheckSchema.prefault({}),
  passive_health: PassiveHealthSchema.prefault({}),
  connect_timeout_ms: millis(2000),
  read_timeout_ms: millis(5000),
  request_timeout_ms: millis(8000),
  /**
   * How bodies passed through untouched reach the client: `guarded` (a stage with the read
   * timeout and an exact byte count) or `native` (the runtime's pipe, for throughput).
   */
  body_pipe: z.enum(["guarded", "native"]).default("guarded"),
  tls: UpstreamTlsSchema.prefault({}),
  socks5: Socks5Schema.prefault({}),
  retry: RetrySchema.prefault({}),
});

/** Which request headers are forwarded upstream. */
export const HeaderPolicySchema = z.strictObject({
  /** When non-empty, only these request headers are forwarded. */
  allow: z.array(z.string().min(1)).default([]),
  /** These request headers are never forwarded. */
  deny: z.array(z.string().min(1)).default([]),
  x_forwarded_for: z.enum(["append", "replace"]).default("append"),
});

/** HLS playlist rewriting. */
export const HlsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  rewrite_playlist_urls: z.boolean().default(false),
  base_url: z.url().nullable().default(null),
  allow_insecure_segments: z.boolean().default(false),
  /** What happens to a URI on a host other than the route's origin. */
  cross_origin: z.enum(["direct_stream", "keep", "refuse"]).default("direct_stream"),
  max_manifest_bytes: z.number().int().positive().default(16 * MIB),
});

/** DASH to HLS conversion on a route. */
export const DashSchema = z.strictObject({
  to_hls: z.boolean().default(false),
  max_manifest_bytes: z.number().int().positive().default(16 * MIB),
});

/** Default lifetimes (seconds) of `200` responses that carry no freshness information. */
export const CacheDefaultTtlSchema = z.strictObject({
  playlist: z.number().min(0).default(2),
  segment: z.number().min(0).default(300),
  other: z.number().min(0).default(0),
});

/** The in-memory HTTP cache with request coalescing (docs/cache.md). */
export const CacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  max_bytes: z.number().int().positive().default(256 * MIB),
  max_object_bytes: z.number().int().positive().default(16 * MIB),
  default_ttl_secs: CacheDefaultTtlSchema.prefault({}),
  stale_while_revalidate_secs: z.number().min(0).default(2),
  stale_if_error_secs: z.number().min(0).default(30),
  stale_retention_secs: z.number().min(0).default(60),
  /** Segments of a watched live playlist fetched ahead into the cache (0 = off). */
  prefetch_segments: z.number().int().min(0).max(10).default(0),
}).refine((cache) => cache.max_object_bytes <= cache.max_bytes, {
  message: "must be <= cache.max_bytes",
  path: ["max_object_bytes"],
});

/** A route's or direct mode's use of the cache; `null` follows `cache.enabled`. */
export const CacheUseSchema = z.strictObject({
  enabled: z.boolean().nullable().default(null),
});

/** A route's DRM settings. */
export const RouteDrmSchema = z.strictObject({
  /** The `secrets.key_sources[].id` asked for keys of this route's content; `null`: all. */
  key_source: nullableString(),
});

/** One route: a listener, the hosts it serves and the origin it forwards to. */
export const RouteSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: "must be letters, digits, '.', '_' or '-'",
  }),
  listen: ListenSchema,
  host_patterns: z.array(z.string().min(1)).min(1, { message: "must list at least one host" }),
  protocols: z.array(z.enum(["http", "https"])).min(1).default(["http", "https"]),
  upstream: UpstreamSchema,
  headers: HeaderPolicySchema.prefault({}),
  hls: HlsSchema.prefault({}),
  dash: DashSchema.prefault({}),
  cache: CacheUseSchema.prefault({}),
  drm: RouteDrmSchema.prefault({}),
});

/** An HTTP field name (RFC 9110 §5.1). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Request headers no `h_<name>` override may ever set: they address the connection, the
 * upstream's view of the client, or sProx's own credential (the operator list cannot add them).
 */
const NEVER_OVERRIDDEN_REQUEST = new Set([
  "host",
  "cookie",
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "accept-encoding",
  "proxy-authorization",
  "proxy-connection",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip",
  "x-sprox-api-password",
  "api_password",
]);

/**
 * Response headers no `r_`/`rp_` override may ever set: framing, cookies, redirects, and
 * the headers sProx's own policies own (content safety, CORS, rate limiting, request id).
 */
const NEVER_OVERRIDDEN_RESPONSE = new Set([
  "set-cookie",
  "content-length",
  "content-range",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "location",
  "content-security-policy",
  "x-content-type-options",
  "strict-transport-security",
  "www-authenticate",
  "x-request-id",
  "retry-after",
  "ratelimit",
  "ratelimit-policy",
]);

/** A header name an operator may add to an override list (lower-cased before use). */
const overridableName = (never: ReadonlySet<string>) =>
  z.string().regex(HEADER_NAME, { message: "must be an HTTP header name" }).refine(
    (name) => !never.has(name.toLowerCase()) && !name.toLowerCase().startsWith("access-control-"),
    { message: "names a header sProx never lets callers set" },
  );

/** One destination rule of the `/proxy/stream` allowlist. */
export const AllowRuleSchema = z.strictObject({
  domain: z.string().min(1),
  schemes: z.array(z.enum(["http", "https"])).min(1).default(["https"]),
  paths: z.array(z.string().startsWith("/", { message: "must start with '/'" })).default([
    "/**",
  ]),
});

/** The `/proxy/stream` endpoint. */
export const DirectStreamSchema = z.strictObject({
  enabled: z.boolean().default(true),
  proxy_url: z.url({ protocol: /^https?$/, error: "must be an http(s) proxy URL" }).nullable()
    .default(null),
  api_password: nullableString(),
  request_timeout_ms: millis(30000),
  response_buffer_bytes: z.number().int().positive().default(65536),
  allowlist: z.array(AllowRuleSchema).default([]),
  retry: RetrySchema.prefault({}),
  /** Labs and tests only: lets destinations resolve to private networks. */
  allow_private_networks: z.boolean().default(false),
  max_redirects: z.number().int().min(0).max(10).default(10),
  /** Static name → addresses map consulted before DNS (like curl --resolve); guarded too. */
  hosts: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).default({}),
  /** Labs and tests only: exact `address:port` sockets the SSRF guard lets through. */
  private_network_exceptions: z.array(z.string().min(1)).default([]),
  cache: CacheUseSchema.prefault({}),
  /** Upstream media types `/proxy/stream` serves (`type/subtype`, `type/*`, `*\/*`). */
  allowed_content_types: z.array(
    z.string().regex(/^(\*\/\*|[A-Za-z0-9!#$%&'+.^_`|~-]+\/(\*|[A-Za-z0-9!#$%&'+.^_`|~-]+))$/, {
      message: "must be a media type (video/mp2t), a type wildcard (video/*) or */*",
    }),
  ).default([
    "video/*",
    "audio/*",
    "application/vnd.apple.mpegurl",
    "application/x-mpegurl",
    "application/dash+xml",
    "application/mp4",
    "text/vtt",
    "application/ttml+xml",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
    "image/jpeg",
    "image/png",
    "image/webp",
  ]),
  /**
   * Request headers callers may set with `h_<name>` on top of the built-in playback set
   * (`authorization` only when listed here).
   */
  request_header_overrides: z.array(overridableName(NEVER_OVERRIDDEN_REQUEST)).default([]),
  /** Response headers callers may set with `r_<name>` (this response) and `rp_<name>` (segments). */
  response_header_overrides: z.array(overridableName(NEVER_OVERRIDDEN_RESPONSE)).default([
    "content-type",
    "content-disposition",
    "cache-control",
    "expires",
  ]),
  /** The egress address `/proxy/ip` reports (MediaFlow clients hand it to debrid services). */
  public_ip: nullableString(),
});

/** One ClearKey key loaded into the secret store. */
export const ClearKeySchema = z.strictObject({
  kid: z.string().regex(/^[0-9a-fA-F]{32}$/, { message: "must be 32 hex digits" }),
  key: z.string().regex(/^[0-9a-fA-F]{32}$/, { message: "must be 32 hex digits" }),
  ttl_secs: z.number().int().positive().nullable().default(null),
});

/** A remote key server (ClearKey license / KMS URL) asked for keys the store lacks. */
export const KeySourceSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: "must be letters, digits, '.', '_' or '-'",
  }),
  /** Answers a W3C ClearKey license request (POST JSON); keys travel over HTTPS only. */
  url: z.url({ protocol: /^https$/, error: "must be an absolute https URL" }),
  /** How long fetched keys stay cached; `null` uses `secrets.default_ttl_secs`. */
  ttl_secs: z.number().int().positive().nullable().default(null),
  timeout_ms: millis(5000),
  /** PEM client certificate and key presented to the key server (mTLS); both or neither. */
  client_certificate_path: nullableString(),
  client_key_path: nullableString(),
  /** PEM bundle of CA certificates the key server's certificate must chain to (internal PKI). */
  ca_bundle_path: nullableString(),
});

/** The in-memory secret store. */
export const SecretsSchema = z.strictObject({
  default_ttl_secs: z.number().int().positive().default(300),
  clearkey: z.array(ClearKeySchema).default([]),
  key_sources: z.array(KeySourceSchema).default([]),
});

/** Signed, expiring URLs (`/generate_url`, `/_token_<t>/…`, `?token=`). */
export const TokensSchema = z.strictObject({
  /** AES-256-GCM key sealing tokens (`AES_KEY`): 64 hex digits. */
  aes_key: z.string().regex(/^[0-9a-fA-F]{64}$/, { message: "must be 64 hex digits (32 bytes)" })
    .nullable().default(null),
  /** HMAC-SHA256 key signing tokens (`SIGNING_SECRET`): base64 of at least 32 bytes. */
  signing_secret: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, { message: "must be base64" })
    .refine((text) => Math.floor(text.replace(/=+$/, "").length * 3 / 4) >= 32, {
      message: "must hold at least 32 bytes of key material (openssl rand -base64 32)",
    }).nullable().default(null),
  /** Lifetime of an issued token when the request names none. */
  default_ttl_secs: z.number().int().positive().default(86400),
  /** Longest lifetime a token may be issued with. */
  max_ttl_secs: z.number().int().positive().default(604800),
}).refine((tokens) => tokens.default_ttl_secs <= tokens.max_ttl_secs, {
  message: "must be <= tokens.max_ttl_secs",
  path: ["default_ttl_secs"],
});

/** Logging of sensitive values. */
export const SensitiveLoggingSchema = z.strictObject({
  log_sensitive_headers: z.boolean().default(false),
  redact_sensitive_queries: z.boolean().default(true),
});

/** CORS allowlists; an empty list means `*` for that dimension (spec). */
export const CorsSchema = z.strictObject({
  allow_origins: z.array(z.string().min(1)).default([]),
  allow_methods: z.array(z.string().min(1)).default([]),
  allow_headers: z.array(z.string().min(1)).default([]),
  expose_headers: z.array(z.string().min(1)).default([
    "Content-Range",
    "Content-Length",
    "Accept-Ranges",
  ]),
  max_age_secs: z.number().int().min(0).default(600),
});

/** Token-bucket rate limiter (spec default: one request per 100 ms, with bursts). */
export const RateLimitSchema = z.strictObject({
  enabled: z.boolean().default(true),
  requests_per_second: z.number().positive().default(10),
  burst: z.number().int().positive().default(20),
  /** `ip` (client IP as `/ip` resolves it) or `header:<name>`. */
  key: z.string().regex(/^(ip|header:[A-Za-z0-9-]+)$/, {
    message: "must be 'ip' or 'header:<name>'",
  }).default("ip"),
  exempt_paths: z.array(z.string().startsWith("/")).default(["/health", "/ready", "/metrics"]),
  max_tracked_clients: z.number().int().positive().default(100000),
  idle_evict_secs: z.number().int().positive().default(60),
});

/** Shared state across instances (rate-limit buckets); `null` keeps it in this process. */
export const StateSchema = z.strictObject({
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  redis_url: z.string().regex(/^rediss?:\/\/[^\s]+$/, {
    message: "must be a redis:// or rediss:// URL",
  }).nullable().default(null),
});

/** Which peers may set forwarding headers that `/ip` and the rate limiter believe. */
export const ClientIpSchema = z.strictObject({
  trusted_proxies: z.array(z.string().min(1)).default(["127.0.0.0/8", "::1/128"]),
});

/** Telemetry switch: JSON logs and the Prometheus exporter. */
export const TelemetrySchema = z.strictObject({
  enabled: z.boolean().default(true),
  log_level: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** The DRM feature switch; off removes `/keys/clearkey`. */
export const DrmSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** `/proxy/decrypt`: the largest `moov`, or `moof` with its `mdat`, held while decrypting. */
  decrypt_max_segment_bytes: z.number().int().positive().default(64 * 1024 * 1024),
});

/** Bearer-token authentication for protected endpoints. */
export const AuthSchema = z.strictObject({
  /** When set, `/proxy/*` and `/keys*` require `Authorization: Bearer <token>`. */
  bearer_token: nullableString(),
});

/**
 * Blocking of clients that present wrong credentials repeatedly: `max_failures` within
 * `window_secs` refuse the client IP on `/proxy/*` and `/keys*` for `block_secs`.
 */
export const AuthAbuseSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Bounded so one tracked client holds at most this many timestamps. */
  max_failures: z.number().int().min(1).max(1000).default(10),
  window_secs: z.number().int().positive().default(60),
  block_secs: z.number().int().positive().default(300),
  max_tracked_clients: z.number().int().positive().default(100000),
});

/** HTTP methods sProx serves; anything else is refused before routing. */
const DEFAULT_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/** Limits every listener enforces (connections, header and idle timeouts, request shape). */
export const ListenerLimitsSchema = z.strictObject({
  /** Open connections per listener; past it the oldest connection still waiting for headers gives way, or the new one is shed. */
  max_connections: z.number().int().positive().default(10000),
  /** Open connections per client IP (the peer address) and listener. */
  max_connections_per_ip: z.number().int().positive().default(512),
  /** Time a connection may take to deliver a complete request head (from connect, or from the end of the previous response). */
  header_timeout_ms: millis(10000),
  /** Time an idle keep-alive connection stays open with no request in flight. */
  idle_timeout_ms: millis(60000),
  /**
   * Largest request head (request line and header fields), in bytes: past it 431. The
   * runtime's HTTP/1.1 parser refuses heads over 64 KiB itself (400, empty body), so the
   * limit stays below that.
   */
  max_header_bytes: z.number().int().min(1024).max(61440).default(32768),
  /** Longest request target, in bytes: past it 414. */
  max_url_bytes: z.number().int().min(256).max(65536).default(8192),
  /** Methods served; others get 405 (a known method) or 501 (an unknown one). */
  allowed_methods: z.array(
    z.string().regex(/^[A-Z]{1,16}$/, {
      message: "must be an upper-case method name of at most 16 letters",
    }),
  ).min(1).default(DEFAULT_METHODS),
  /** File descriptors kept free: new connections are shed when fewer than this remain. */
  fd_reserve: z.number().int().min(16).default(128),
});

/** The admin API: its own listener (loopback by default) and bearer token. */
export const AdminSchema = z.strictObject({
  enabled: z.boolean().default(false),
  listen: z.strictObject({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(1, { message: "must be >= 1" }).max(65535, {
      message: "must be <= 65535",
    }).default(9901),
  }).prefault({}),
  /** Required when enabled (`SPROX_ADMIN_TOKEN`). */
  bearer_token: nullableString(),
});

/** Server-wide behaviour. */
export const ServerSchema = z.strictObject({
  /** How long in-flight requests may run after SIGTERM/SIGINT before the process exits. */
  shutdown_grace_ms: z.number().int().min(0).default(10000),
  /**
   * Isolates serving the listeners (`SO_REUSEPORT`): a number, or `auto` for the cores the
   * runtime reports. Read at start; a reload that changes it is applied at the next start.
   */
  workers: z.union([
    z.literal("auto"),
    z.number().int().min(1, { message: "must be >= 1" }).max(256, { message: "must be <= 256" }),
  ]).default(1),
  limits: ListenerLimitsSchema.prefault({}),
  /**
   * Idle memory return: after traffic, once no request has started for `quiet_ms`, each
   * isolate collects its garbage and the process gives freed memory back to the system.
   */
  memory_return: z.strictObject({
    enabled: z.boolean().default(true),
    quiet_ms: z.number().int().min(100, { message: "must be >= 100" }).default(2000),
    /** Growth of the resident size since the last return below which nothing is done. */
    min_growth_mib: z.number().int().min(0).default(32),
  }).prefault({}),
});

/** The whole configuration file. */
export const ConfigSchema = z.strictObject({
  routes: z.array(RouteSchema).min(1, { message: "must define at least one route" }),
  direct_stream: DirectStreamSchema.nullable().default(null),
  retry_budget: RetryBudgetSchema.prefault({}),
  secrets: SecretsSchema.prefault({}),
  tokens: TokensSchema.prefault({}),
  sensitive_logging: SensitiveLoggingSchema.prefault({}),
  cors: CorsSchema.prefault({}),
  rate_limit: RateLimitSchema.prefault({}),
  state: StateSchema.prefault({}),
  client_ip: ClientIpSchema.prefault({}),
  telemetry: TelemetrySchema.prefault({}),
  drm: DrmSchema.prefault({}),
  auth: AuthSchema.prefault({}),
  auth_abuse: AuthAbuseSchema.prefault({}),
  cache: CacheSchema.prefault({}),
  server: ServerSchema.prefault({}),
  admin: AdminSchema.prefault({}),
});

/** A validated configuration with every default filled in. */
export type Config = z.infer<typeof ConfigSchema>;
/** One validated route. */
export type RouteConfig = z.infer<typeof RouteSchema>;
/** The validated `/proxy/stream` block. */
export type DirectStreamConfig = z.infer<typeof DirectStreamSchema>;
/** One validated allowlist rule. */
export type AllowRuleConfig = z.infer<typeof AllowRuleSchema>;
/** A validated retry policy. */
export type RetryConfig = z.infer<typeof RetrySchema>;
/** One validated origin of `upstream.origins`. */
export type UpstreamOriginConfig = z.infer<typeof UpstreamOriginSchema>;
/** The validated `admin` block. */
export type AdminConfig = z.infer<typeof AdminSchema>;
