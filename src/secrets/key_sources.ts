/**
 * Where DRM keys come from, in the order they are looked up (keys a request carries itself,
 * MediaFlow's `key_id` / `key`, are its decryption's business and come first there):
 *
 * 1. the secret store: keys of the configuration (kept as long as it is), keys added at run
 *    time (admin API), and keys fetched from key servers (cached with their source's TTL);
 *    with a shared tier (`state.redis_url`), a key the store lacks or has not checked lately is
 *    asked of Redis (keys added at run time on any instance);
 * 2. remote key servers (`secrets.key_sources`): a W3C ClearKey license request (`POST` of
 *    `{"kids": [...], "type": "temporary"}`) to the server's URL over HTTPS, optionally with
 *    a client certificate (mTLS); the keys it answers are cached in the store.
 *
 * Every step is timed in `sprox_drm_key_lookup_duration_seconds`.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { drmKeyLookupDuration, log, redactText } from "../telemetry/mod.ts";
import {
  base64UrlToBytes,
  bytesToBase64Url,
  bytesToHex,
  hexToBytes,
  readBounded,
} from "../net/mod.ts";
import { clearKeyId } from "./clearkey.ts";
import type { SecretStore } from "./store.ts";

/** One configured key server. */
export type KeySourceConfig = Config["secrets"]["key_sources"][number];

/** Largest license answer read from a key server. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Most key ids asked for in one lookup. */
const MAX_KIDS = 256;

/** Where the keys a key server answered are cached in the store. */
export function remoteSourceTag(id: string): string {
  return `remote:${id}`;
}

/** A key server: asked for the keys of given key ids with one ClearKey license request. */
export class RemoteKeySource {
  readonly id: string;
  /** Seconds its keys stay cached. */
  readonly ttlSecs: number;
  #url: string;
  #timeoutMs: number;
  #client: Deno.HttpClient;

  /**
   * Builds the source and its HTTP client (the client certificate and CA bundle are read
   * once, here).
   */
  constructor(config: KeySourceConfig, defaultTtlSecs: number) {
    this.id = config.id;
    this.ttlSecs = config.ttl_secs ?? defaultTtlSecs;
    this.#url = config.url;
    this.#timeoutMs = config.timeout_ms;
    const caCerts = config.ca_bundle_path === null
      ? undefined
      : [Deno.readTextFileSync(config.ca_bundle_path)];
    const identity = config.client_certificate_path !== null && config.client_key_path !== null
      ? {
        cert: Deno.readTextFileSync(config.client_certificate_path),
        key: Deno.readTextFileSync(config.client_key_path),
      }
      : {};
    this.#client = Deno.createHttpClient({ caCerts, ...identity });
  }

  /**
   * Asks the server for `kids`; answers the keys it knows of those (others it sent are
   * ignored). Throws on a transport failure, a timeout, a non-200 or a malformed answer.
   */
  async fetchKeys(kids: readonly Uint8Array[]): Promise<Map<string, Uint8Array>> {
    const wanted = new Map(kids.map((kid) => [bytesToBase64Url(kid), bytesToHex(kid)]));
    const response = await fetch(this.#url, {
      method: "POST",
      client: this.#client,
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ kids: [...wanted.keys()], type: "temporary" }),
      signal: AbortSignal.timeout(this.#timeoutMs),
      redirect: "error",
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`key server answered ${response.status}`);
    }
    const text = await readText(response, MAX_ANSWER_BYTES);
    const answer = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(answer?.keys)) throw new Error("key server answer has no keys array");
    const found = new Map<string, Uint8Array>();
    for (const jwk of answer.keys as unknown[]) {
      if (typeof jwk !== "object" || jwk === null) continue;
      const { kty, kid, k } = jwk as Record<string, unknown>;
      if (kty !== "oct" || typeof kid !== "string" || typeof k !== "string") continue;
      const kidBytes = base64UrlToBytes(kid);
      const key = base64UrlToBytes(k);
      if (!kidBytes || kidBytes.length !== 16 || !key || key.length !== 16) continue;
      const hex = wanted.get(bytesToBase64Url(kidBytes));
      if (hex !== undefined) found.set(hex, key);
    }
    return found;
  }

  /** Closes the HTTP client. */
  close(): void {
    this.#client.close();
  }
}

async function readText(response: Response, max: number): Promise<string> {
  const bytes = await readBounded(
    response.body,
    max,
    () => new Error("key server answer is too large"),
  );
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/** Options of one lookup. */
export interface KeyLookupOptions {
  /**
   * The key server to ask for keys the store lacks: a `secrets.key_sources[].id`, or null /
   * absent for every configured one, in order.
   */
  readonly source?: string | null;
}

function observe(source: string, outcome: string, started: number): void {
  drmKeyLookupDuration.labels(source, outcome).observe((performance.now() - started) / 1000);
}

/**
 * Looks keys up in the store and the key servers, and caches what the servers answer. Concurrent lookups of the same keys from the same server share one request.
 *
 * @example
 * ```ts
 * const resolver = new KeyResolver(store, config.secrets);
 * const keys = await resolver.lookup([kid]); // Map { "<hex kid>" => key }
 * ```
 */
export class KeyResolver {
  #store: SecretStore;
  #sources: Map<string, RemoteKeySource>;
  #inFlight = new Map<string, Promise<Map<string, Uint8Array>>>();

  constructor(store: SecretStore, secrets: Config["secrets"]) {
    this.#store = store;
    this.#sources = new Map(
      secrets.key_sources.map((c) => [c.id, new RemoteKeySource(c, secrets.default_ttl_secs)]),
    );
  }

  /** Whether `id` names a configured key server. */
  hasSource(id: string): boolean {
    return this.#sources.has(id);
  }

  /**
   * The keys of `kids` (lower-case hex kid → key) that any step knows; missing kids are
   * absent. A key server that fails is logged and skipped: the lookup answers what the other
   * steps found.
   */
  async lookup(
    kids: readonly Uint8Array[],
    options: KeyLookupOptions = {},
  ): Promise<Map<string, Uint8Array>> {
    const found = new Map<string, Uint8Array>();
    let missing = [...new Map(kids.slice(0, MAX_KIDS).map((k) => [bytesToHex(k), k])).values()];
    if (missing.length === 0) return found;
    const started = performance.now();
    const shared = this.#store.shared;
    missing = missing.filter((kid) => {
      const id = clearKeyId(kid);
      // Synchronous unless the key is a shared one not checked against Redis lately.
      if (shared && !shared.isFresh(id)) return true;
      const key = this.#store.get(id);
      if (key) found.set(bytesToHex(kid), key);
      return !key;
    });
    observe("store", missing.length === 0 ? "found" : "missing", started);
    if (shared && missing.length > 0) {
      const sharedStarted = performance.now();
      const fetched = await Promise.all(missing.map((kid) => shared.fetch(clearKeyId(kid))));
      missing = missing.filter((kid, i) => {
        const key = fetched[i];
        if (key) found.set(bytesToHex(kid), key);
        return !key;
      });
      observe("shared", missing.length === 0 ? "found" : "missing", sharedStarted);
    }
    const sources = options.source
      ? [this.#sources.get(options.source)].filter((s) => s !== undefined)
      : [...this.#sources.values()];
    for (const source of sources) {
      if (missing.length === 0) break;
      const fetched = await this.#fetch(source, missing);
      missing = missing.filter((kid) => {
        const key = fetched.get(bytesToHex(kid));
        if (key) found.set(bytesToHex(kid), key.slice());
        return !key;
      });
    }
    return found;
  }

  /** One (shared) request to `source`; the keys it answers go into the store. */
  #fetch(source: RemoteKeySource, kids: Uint8Array[]): Promise<Map<string, Uint8Array>> {
    const key = `${source.id} ${kids.map(bytesToHex).sort().join(",")}`;
    const running = this.#inFlight.get(key);
    if (running) return running;
    const started = performance.now();
    const request = source.fetchKeys(kids).then((keys) => {
      for (const [hex, value] of keys) {
        this.#store.set(clearKeyId(hexToBytes(hex)!), value, {
          ttlSecs: source.ttlSecs,
          source: remoteSourceTag(source.id),
        });
      }
      observe("remote", keys.size === kids.length ? "found" : "missing", started);
      return keys;
    }, (error) => {
      observe("remote", "error", started);
      log("warn", "key source failed", { source: source.id, error: redactText(String(error)) });
      return new Map<string, Uint8Array>();
    }).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, request);
    return request;
  }

  /** Closes the key servers' HTTP clients. */
  dispose(): void {
    for (const source of this.#sources.values()) source.close();
  }
}
