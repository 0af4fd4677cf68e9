/**
 * A configuration compiled into the read-only plan request handling uses. A reload builds
 * a new plan and swaps one reference; nothing re-parses configuration per request.
 * @module
 */
import type { Config, ConfigIssue, LoadedConfig } from "../config/mod.ts";
import { compileTrustedProxies } from "../edge/client_ip.ts";
import type { ListenerPlan } from "../edge/mod.ts";
import type { Cidr } from "../net/mod.ts";
import {
  ClientPool,
  compileRoutes,
  listenerKey,
  processRetryBudget,
  type RoutingTable,
} from "../routing/mod.ts";
import { compilePolicy, type PolicyPlan } from "../policy/mod.ts";
import { KeyResolver, loadClearKeys, SecretStore } from "../secrets/mod.ts";
import { loadRedisDriver, RedisKeyStore } from "../state/mod.ts";
import { compileDirectStream, type DirectPlan } from "../stream/direct/mod.ts";
import { compileRequestGate, type RequestGatePlan } from "./gate.ts";
import { type CachePlan, compileCache } from "./cache_plan.ts";

export type { ListenerPlan };

/** The compiled, read-only state of one configuration. */
export interface Plan {
  readonly file: string;
  readonly hash: string;
  readonly config: Config;
  readonly warnings: readonly ConfigIssue[];
  readonly listeners: ReadonlyMap<string, ListenerPlan>;
  readonly routing: RoutingTable;
  /** The routing table's health checks and the shared key tier's write-backs. */
  readonly background: { activate(): void; deactivate(): void };
  readonly trustedProxies: readonly Cidr[];
  /** Rate limiter, CORS and the API credential. */
  readonly policy: PolicyPlan;
  /** The secret store, loaded from `secrets.*` (ClearKey keys); a reload builds a new one. */
  readonly secrets: SecretStore;
  /** DRM key lookup: request keys, the secret store, then the key servers of `secrets.key_sources`. */
  readonly keys: KeyResolver;
  /** `/proxy/stream`, when the `direct_stream` block is present and enabled. */
  readonly direct: DirectPlan | undefined;
  /** The request gate's compiled `server.limits` (methods, target and head size). */
  readonly gate: RequestGatePlan;
  /** The HTTP cache shared by the routes and direct mode that use it. */
  readonly cache: CachePlan;
  /** Releases what the plan holds (HTTP clients, timers). */
  dispose(): void;
}

/**
 * The `Strict-Transport-Security` value of a listener (RFC 6797 §6.1), or `null`: never on
 * a plain listener, where a browser would ignore it anyway (§8.1).
 */
function hstsValue(tls: Config["routes"][number]["listen"]["tls"]): string | null {
  const hsts = tls.hsts;
  if (!tls.enabled || !hsts.enabled) return null;
  return [
    `max-age=${hsts.max_age_secs}`,
    hsts.include_subdomains ? "includeSubDomains" : "",
    hsts.preload ? "preload" : "",
  ].filter(Boolean).join("; ");
}

function compileListeners(config: Config): Map<string, ListenerPlan> {
  const listeners = new Map<string, ListenerPlan>();
  for (const route of config.routes) {
    const key = listenerKey(route.listen.host, route.listen.port);
    const existing = listeners.get(key);
    if (existing) {
      (existing.routeIds as string[]).push(route.id);
      continue;
    }
    const tls = route.listen.tls;
    listeners.set(key, {
      key,
      host: route.listen.host,
      port: route.listen.port,
      tls: {
        enabled: tls.enabled,
        certificatePath: tls.certificate_path,
        privateKeyPath: tls.private_key_path,
        watchForChanges: tls.watch_for_changes,
        certificates: tls.certificates.map((c) => ({
          serverNames: c.server_names.map((n) => n.toLowerCase().replace(/\.$/, "")),
          certificatePath: c.certificate_path,
          privateKeyPath: c.private_key_path,
        })),
      },
      maxConcurrentRequests: route.listen.max_concurrent_requests,
      hsts: hstsValue(tls),
      http3: route.listen.http3 && tls.enabled,
      routeIds: [route.id],
    });
  }
  return listeners;
}

/**
 * Loads the libraries `loaded` needs before {@linkcode compilePlan} (the Redis client, only
 * when `state.redis_url` is set).
 */
export async function loadPlanLibraries(loaded: LoadedConfig): Promise<void> {
  if (loaded.config.state.redis_url) await loadRedisDriver();
}

/**
 * Compiles a loaded configuration into a plan. `previous` is the plan a reload replaces:
 * state worth keeping across reloads (rate-limit buckets with unchanged knobs) is taken
 * from it.
 *
 * @example
 * ```ts
 * const plan = compilePlan(await loadConfig("config"));
 * ```
 */
export function compilePlan(loaded: LoadedConfig, previous?: Plan): Plan {
  const config = loaded.config;
  const clients = new ClientPool();
  const disposers: (() => void)[] = [() => clients.close()];
  // The budget is process-wide (shared across reloads and with /proxy/stream).
  processRetryBudget.configure(config.retry_budget);
  // Keys added at run time are shared through Redis only sealed with tokens.aes_key; without
  // it they stay in this process (a configuration warning says so).
  const sharedKeys = config.state.redis_url && config.tokens.aes_key
    ? new RedisKeyStore(config.state.redis_url, config.tokens.aes_key)
    : undefined;
  const secrets = new SecretStore({
    defaultTtlSecs: config.secrets.default_ttl_secs,
    shared: sharedKeys,
  });
  loadClearKeys(secrets, config.secrets.clearkey);
  // Keys added through the admin API outlive a reload (until their own TTL); a kid the new
  // configuration also lists keeps the configuration's key.
  if (previous) secrets.adopt(previous.secrets, "runtime");
  disposers.push(() => secrets.dispose());
  const keys = new KeyResolver(secrets, config.secrets);
  disposers.push(() => keys.dispose());
  const direct = compileDirectStream(config);
  if (direct) disposers.push(() => direct.dispose());
  const cache = compileCache(config, previous?.cache);
  disposers.push(() => cache.dispose());
  const routing = compileRoutes(config, clients, previous?.routing);
  const background = {
    activate() {
      routing.activate();
      secrets.shared?.activate();
    },
    deactivate() {
      routing.deactivate();
    },
  };
  disposers.unshift(() => background.deactivate());
  const policy = compilePolicy(config, previous?.policy);
  if (policy.shared) {
    const shared = policy.shared;
    disposers.push(() => shared.close());
  }
  return {
    file: loaded.file,
    hash: loaded.hash,
    config,
    warnings: loaded.warnings,
    listeners: compileListeners(config),
    routing,
    background,
    trustedProxies: compileTrustedProxies(config.client_ip.trusted_proxies),
    policy,
    secrets,
    keys,
    direct,
    gate: compileRequestGate(config.server.limits),
    cache,
    dispose() {
      for (const d of disposers) d();
    },
  };
}
