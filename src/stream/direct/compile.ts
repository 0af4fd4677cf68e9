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
  return {
    allowlist: compileAllowlist(block.allowlist),
    contentTypes: compileContentTypes(block.allowed_content_types),
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
    dispose() {
      connector.close();
    },
  };
}
