/**
 * `/keys` and `/keys/clearkey`: the identifiers of the secret store, and W3C EME ClearKey
 * (Encrypted Media Extensions, §9.1 "Clear Key": license request and response formats,
 * JSON Web Key `oct` entries with base64url key ids and keys).
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { readBounded } from "../../net/mod.ts";
import { checkCredentials, type CredentialPolicy } from "../../policy/mod.ts";
import {
  base64UrlToBytes,
  bytesToBase64Url,
  bytesToHex,
  CLEARKEY_PREFIX,
  hexToBytes,
  type KeyResolver,
  listHeldKeys,
  type SecretStore,
} from "../../secrets/mod.ts";
import { drmKeyRequests } from "../../telemetry/mod.ts";

/** What the key endpoints need. */
export interface KeyEndpointOptions {
  readonly store: SecretStore;
  /** Checked on every request when a credential is configured. */
  readonly credentials: CredentialPolicy;
  /** Looks license requests up in the store and then the key servers (`?source=<id>`: one). */
  readonly resolver: KeyResolver;
}

/** One JSON Web Key of type `oct` (RFC 7517, EME ClearKey). */
export interface ClearKeyJwk {
  readonly kty: "oct";
  readonly kid: string;
  readonly k: string;
}

/** An EME ClearKey license (or JWK Set). */
export interface ClearKeyLicense {
  readonly keys: ClearKeyJwk[];
  readonly type?: string;
}

/** Upper bound of a license request body and of the kids it may ask for. */
export const MAX_LICENSE_REQUEST_BYTES = 64 * 1024;
const MAX_KIDS = 256;
const SESSION_TYPES = new Set(["temporary", "persistent-license"]);

const NO_STORE = { "cache-control": "no-store" };

/** Looks a key id up in the store. */
export type KeyLookup = (kid: Uint8Array) => Uint8Array | undefined;

/**
 * Answers an EME ClearKey license request (`{"kids":[base64url...],"type":"temporary"}`)
 * with only the requested keys that are known; unknown kids are omitted. Throws a 400
 * `ProxyError` for anything malformed.
 *
 * @example
 * ```ts
 * answerLicenseRequest({ kids: ["ABEiM0RVZneImaq7zN3u_w"], type: "temporary" }, lookup);
 * // { keys: [{ kty: "oct", kid: "ABEiM0RVZneImaq7zN3u_w", k: "..." }], type: "temporary" }
 * ```
 */
export function answerLicenseRequest(request: unknown, lookup: KeyLookup): ClearKeyLicense {
  const { kids, type } = readLicenseRequest(request);
  const keys: ClearKeyJwk[] = [];
  for (const kid of kids) {
    const key = lookup(kid);
    if (key) keys.push({ kty: "oct", kid: bytesToBase64Url(kid), k: bytesToBase64Url(key) });
  }
  return { keys, type };
}

/** A validated EME ClearKey license request: distinct 16-byte kids and the session type. */
export interface LicenseRequest {
  readonly kids: readonly Uint8Array[];
  readonly type: string;
}

/**
 * Validates an EME ClearKey license request (`{"kids":[base64url...],"type":"temporary"}`);
 * repeated kids are asked for once. Throws a 400 `ProxyError` for anything malformed.
 *
 * @example
 * ```ts
 * readLicenseRequest({ kids: ["ABEiM0RVZneImaq7zN3u_w"] }); // { kids: [Uint8Array(16)], type: "temporary" }
 * ```
 */
export function readLicenseRequest(request: unknown): LicenseRequest {
  const bad = (message: string) => new ProxyError(400, "bad_request", message);
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw bad("license request must be a JSON object");
  }
  const { kids, type } = request as Record<string, unknown>;
  if (!Array.isArray(kids)) throw bad("license request must have a 'kids' array");
  if (kids.length > MAX_KIDS) throw bad(`license request may ask for at most ${MAX_KIDS} kids`);
  if (type !== undefined && (typeof type !== "string" || !SESSION_TYPES.has(type))) {
    throw bad("'type' must be 'temporary' or 'persistent-license'");
  }
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const kid of kids) {
    const bytes = typeof kid === "string" ? base64UrlToBytes(kid) : undefined;
    if (!bytes || bytes.length !== 16) throw bad("each kid must be a base64url 16-byte key id");
    const canonical = bytesToBase64Url(bytes);
    if (seen.has(canonical)) continue;
    seen.add(canonical);
    out.push(bytes);
  }
  return { kids: out, type: (type as string | undefined) ?? "temporary" };
}

/** The JWK Set of every live ClearKey key of this instance's store. */
export function clearKeyJwks(store: SecretStore): ClearKeyLicense {
  const keys: ClearKeyJwk[] = [];
  for (const { id } of store.list(CLEARKEY_PREFIX)) {
    const kid = hexToBytes(id.slice(CLEARKEY_PREFIX.length));
    const key = store.get(id);
    if (kid && key) keys.push({ kty: "oct", kid: bytesToBase64Url(kid), k: bytesToBase64Url(key) });
  }
  return { keys };
}

/**
 * The JWK Set of every live ClearKey key: with a shared tier, the keys every instance added
 * at run time too (read from Redis unless held and checked lately); else {@linkcode clearKeyJwks}.
 */
export async function sharedClearKeyJwks(store: SecretStore): Promise<ClearKeyLicense> {
  const shared = store.shared;
  if (!shared) return clearKeyJwks(store);
  const entries = await shared.list(CLEARKEY_PREFIX);
  const values = await Promise.all(
    entries.map(({ id }) => shared.isFresh(id) ? store.get(id) : shared.fetch(id)),
  );
  const keys: ClearKeyJwk[] = [];
  entries.forEach(({ id }, i) => {
    const kid = hexToBytes(id.slice(CLEARKEY_PREFIX.length));
    const key = values[i];
    if (kid && key) keys.push({ kty: "oct", kid: bytesToBase64Url(kid), k: bytesToBase64Url(key) });
  });
  return { keys };
}

/** Reads a request body up to `max` bytes; more is a 400. */
export function readBodyLimited(request: Request, max: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  return readBounded(
    request.body,
    max,
    () => new ProxyError(400, "bad_request", "license request is too large"),
    declared,
  );
}

function methodNotAllowed(allow: string): never {
  throw new ProxyError(405, "method_not_allowed", "method not allowed", {
    headers: { allow },
  });
}

async function counted<T>(endpoint: string, run: () => Promise<T>): Promise<T> {
  try {
    const result = await run();
    drmKeyRequests.labels(endpoint, "ok").inc();
    return result;
  } catch (error) {
    drmKeyRequests.labels(endpoint, error instanceof ProxyError ? error.reason : "internal").inc();
    throw error;
  }
}

/**
 * `/keys`: the identifiers loaded in the secret store (and, with a shared tier, those in Redis)
 * and their remaining lifetimes (`null` for keys of the configuration, which live as long as it
 * does); never key material. Behind the API credential when one is configured.
 */
export function handleKeysList(request: Request, options: KeyEndpointOptions): Promise<Response> {
  return counted("keys", async () => {
    if (request.method !== "GET" && request.method !== "HEAD") methodNotAllowed("GET, HEAD");
    await checkCredentials(request, new URL(request.url), options.credentials);
    // With a shared tier: every instance's keys added at run time (Redis), not only this one's.
    // Where a key came from is the operator's business (`GET /admin/keys`), not a client's.
    const keys = (await listHeldKeys(options.store)).map(({ kind, id, kid, expires_in_secs }) => ({
      kind,
      id,
      ...(kid ? { kid } : {}),
      expires_in_secs,
    }));
    return Response.json({ keys }, { headers: NO_STORE });
  });
}

/**
 * The key server a license request names (`?source=<id>`, written by sProx into the key URIs
 * of a route or request with a key source); null for every configured one. An unknown name
 * is a 400.
 */
function keySourceOf(request: Request, options: KeyEndpointOptions): string | null {
  const source = new URL(request.url).searchParams.get("source");
  if (source === null || source === "") return null;
  if (!options.resolver.hasSource(source)) {
    throw new ProxyError(400, "bad_request", "source names no configured key source");
  }
  return source;
}

/**
 * `/keys/clearkey`: `GET` answers the JWK Set of every live ClearKey key of the store; `POST`
 * answers an EME license request with only the requested keys, looked up in the store and
 * then the key servers (`?source=<id>`: that one only). Behind the API credential when one
 * is configured.
 */
export function handleClearKey(request: Request, options: KeyEndpointOptions): Promise<Response> {
  const endpoint = request.method === "POST" ? "clearkey_license" : "clearkey_jwks";
  return counted(endpoint, async () => {
    const method = request.method;
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      methodNotAllowed("GET, HEAD, POST");
    }
    await checkCredentials(request, new URL(request.url), options.credentials);
    if (method !== "POST") {
      return Response.json(await sharedClearKeyJwks(options.store), { headers: NO_STORE });
    }
    const body = await readBodyLimited(request, MAX_LICENSE_REQUEST_BYTES);
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch {
      throw new ProxyError(400, "bad_request", "license request must be JSON");
    }
    const asked = readLicenseRequest(parsed);
    const source = keySourceOf(request, options);
    const found = await options.resolver.lookup(asked.kids, { source });
    const keys: ClearKeyJwk[] = [];
    for (const kid of asked.kids) {
      const key = found.get(bytesToHex(kid));
      if (key) keys.push({ kty: "oct", kid: bytesToBase64Url(kid), k: bytesToBase64Url(key) });
    }
    return Response.json({ keys, type: asked.type }, { headers: NO_STORE });
  });
}
