/**
 * The `direct_stream` block compiled once per plan.
 * @module
 */
import type { Config, RetryConfig } from "../../config/mod.ts";
import { parseSocketAddress } from "../../net/mod.ts";
import { type AllowRule, compileAllowlist } from "./allowlist.ts";
import { compileContentTypes, type ContentTypePolicy } from "./content_type.ts";
import { createResolver, type GuardOptions, type Resolver } from "./guard.ts";
import { PinnedConnector } from "./pin.ts";
import type { ResponseOverridePolicy } from "./response_overrides.ts";
import { TokenKeys } from "../../policy/mod.ts";

/** Signed URLs: the keys and the lifetimes of issued tokens (`tokens.*`). */
export interface TokenPlan {
  /** Null when neither `tokens.aes_key` nor `tokens.signing_secret` is set. */
  readonly keys: TokenKeys | null;
  readonly defaultTtlSecs: number;
  readonly maxTtlSecs: number;
}

/** The compiled, read-only state of `/proxy/stream`. */
export interface DirectPlan {
  readonly allowlist: readonly AllowRule[];
  /** Upstream media types `/proxy/stream` serves. */
  readonly contentTypes: ContentTypePolicy;
  readonly guard: GuardOptions;
  readonly connector: PinnedConnector;
  readonly apiPassword: string | null;
  readonly bearerToken: string | null;
  readonly requestTimeoutMs: number;
  /** Bytes buffered between the upstream body and the client (stream high-water mark). */
  readonly responseBufferBytes: number;
  readonly maxRedirects: number;
  /** Attempts and backoff; the budget is the process-wide one of `routing/`. */
  readonly retry: RetryConfig;
  /** Header names `h_<name>` may set besides the built-in playback set. */
  readonly extraOverridable: ReadonlySet<string>;
  /** What `r_*` / `rp_*` may set. */
  readonly responseOverrides: ResponseOverridePolicy;
  /** What `/proxy/ip` reports; null when not configured. */
  readonly publicIp: string | null;
  readonly tokens: TokenPlan;
  /** Retires the clients (busy ones close when their exchange ends) and the pin tunnel. */
  dispose(): void;
}

/** Options for {@linkcode compileDirectStream} (tests inject a resolver). */
export interface CompileDirectOptions {
  readonly resolver?: Resolver;
}

/**
 * Compiles `direct_stream`; undefined when the block is absent or `enabled: false` (the
 * endpoint then answers 404).
 *
 * @example
 * ```ts
 * const direct = compileDirectStream(config);
 * direct?.dispose();
 * ```
 */
export function compileDirectStream(
  config: Config,
  options: CompileDirectOptions = {},
): DirectPlan | undefined {
  const block = config.direct_stream;
  if (!block || !block.enabled) return undefined;
  const exceptions = new Set<string>();
  for (const text of block.private_network_exceptions) {
    const socket = parseSocketAddress(text);
    if (socket) exceptions.add(`${socket.address}|${socket.port}`);
  }
  const connector = new PinnedConnector(block.proxy_url);
  const contentTypes = compileContentTypes(block.allowed_content_types);
  return {
    allowlist: compileAllowlist(block.allowlist),
    contentTypes,
    guard: {
      resolver: options.resolver ?? createResolver(block.hosts),
      allowPrivateNetworks: block.allow_private_networks,
      exceptions,
    },
    connector,
    apiPassword: block.api_password,
    bearerToken: config.auth.bearer_token,
    requestTimeoutMs: block.request_timeout_ms,
    responseBufferBytes: block.response_buffer_bytes,
    maxRedirects: block.max_redirects,
    retry: block.retry,
    extraOverridable: new Set(block.request_header_overrides.map((n) => n.toLowerCase())),
    responseOverrides: {
      settable: new Set(block.response_header_overrides.map((n) => n.toLowerCase())),
      contentTypes,
    },
    publicIp: block.public_ip,
    tokens: {
      keys: TokenKeys.from({
        aesKey: config.tokens.aes_key,
        signingSecret: config.tokens.signing_secret,
      }),
      defaultTtlSecs: config.tokens.default_ttl_secs,
      maxTtlSecs: config.tokens.max_ttl_secs,
    },
    dispose() {
      connector.close();
    },
  };
}
