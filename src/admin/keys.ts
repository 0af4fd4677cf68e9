/**
 * Key management on the admin API: list the secret store's identifiers (never values),
 * add or replace a ClearKey key at run time with a TTL, remove one. Keys added here carry
 * the source `runtime`: they expire after their `ttl_secs` (or `secrets.default_ttl_secs`)
 * and outlive reloads until then; keys of the configuration live as long as it does.
 *
 * With a shared tier (`state.redis_url` and `tokens.aes_key`), an added key is also written to
 * Redis (sealed) and a removal removes it there, so every instance serves or stops serving it.
 * When Redis fails, the change is made on this instance only and the answer says so: a `PUT`
 * answers its usual status with `"shared": false` and a `warning`; a `DELETE` of a key held
 * here answers `200` with the same fields, and of a key not held here (Redis may hold it)
 * `503` `shared_state_unavailable` — retry both once Redis answers.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import {
  bytesToBase64Url,
  clearKeyId,
  listHeldKeys,
  parseKeyBytes,
  type SecretStore,
} from "../secrets/mod.ts";
import { readBodyLimited } from "../stream/drm/mod.ts";
import { log } from "../telemetry/mod.ts";

/** The source of keys added through the admin API. */
export const RUNTIME_SOURCE = "runtime";

/** Largest key request body. */
const MAX_BODY_BYTES = 4096;

/** Longest TTL accepted for a key added at run time: 30 days. */
const MAX_TTL_SECS = 30 * 24 * 3600;

const NO_STORE = { "cache-control": "no-store" };

function remaining(expiresAt: number, now: number): number | null {
  return expiresAt === Infinity ? null : Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

/** The warning of an answer whose change did not reach Redis. */
const SHARED_WARNING =
  "shared state unreachable: changed on this instance only until Redis answers again";

/**
 * `GET /admin/keys`: identifiers, sources and remaining lifetimes (with a shared tier, those of
 * every instance's keys added at run time); never key material.
 */
export async function listKeys(store: SecretStore): Promise<Response> {
  return Response.json({ keys: await listHeldKeys(store) }, { headers: NO_STORE });
}

function badRequest(message: string): ProxyError {
  return new ProxyError(400, "bad_request", message);
}

/**
 * `PUT /admin/keys/clearkey/<kid>` with `{"key": "<32 hex or base64url>", "ttl_secs": n}`:
 * adds (201) or replaces (200) the key of `kid` for `ttl_secs`, or the store's default TTL.
 */
export async function putClearKey(
  store: SecretStore,
  kidText: string,
  request: Request,
): Promise<Response> {
  const kid = parseKeyBytes(kidText);
  if (!kid) throw badRequest("the key id must be 32 hex digits or 16 bytes of base64url");
  const body = await readBodyLimited(request, MAX_BODY_BYTES).catch(() => {
    throw badRequest(`the body must be JSON of at most ${MAX_BODY_BYTES} bytes`);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw badRequest('the body must be JSON: {"key": "<32 hex digits>", "ttl_secs": 300}');
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw badRequest("the body must be a JSON object");
  }
  const { key: keyText, ttl_secs: ttl, ...rest } = parsed as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw badRequest(`unknown field "${unknown[0]}"`);
  const key = typeof keyText === "string" ? parseKeyBytes(keyText) : undefined;
  if (!key) throw badRequest("'key' must be 32 hex digits or 16 bytes of base64url");
  if (
    ttl !== undefined && ttl !== null &&
    (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECS)
  ) {
    throw badRequest(`'ttl_secs' must be an integer from 1 to ${MAX_TTL_SECS}`);
  }
  const id = clearKeyId(kid);
  const previous = store.get(id);
  let existed = previous !== undefined;
  previous?.fill(0);
  store.set(id, key, {
    ttlSecs: (ttl as number | null | undefined) ?? null,
    source: RUNTIME_SOURCE,
  });
  const entry = store.info(id)!;
  let sharedFields = {};
  if (store.shared) {
    const written = await store.shared.put(id, key, (entry.expiresAt - store.now()) / 1000);
    if (written.ok) existed ||= written.existed;
    sharedFields = written.ok ? { shared: true } : { shared: false, warning: SHARED_WARNING };
  }
  key.fill(0);
  const expiresIn = remaining(entry.expiresAt, store.now());
  log("info", existed ? "clearkey key replaced at run time" : "clearkey key added at run time", {
    kid: bytesToBase64Url(kid),
    expires_in_secs: expiresIn,
    ...sharedFields,
  });
  return Response.json({
    kind: "clearkey",
    id: id.slice(id.indexOf(":") + 1),
    kid: bytesToBase64Url(kid),
    source: RUNTIME_SOURCE,
    expires_in_secs: expiresIn,
    ...sharedFields,
  }, { status: existed ? 200 : 201, headers: NO_STORE });
}

/**
 * `DELETE /admin/keys/clearkey/<kid>`: 204 when removed (here or, with a shared tier, in
 * Redis), 404 when unknown; when Redis fails, 200 with a warning (removed here only) or 503.
 */
export async function deleteClearKey(store: SecretStore, kidText: string): Promise<Response> {
  const kid = parseKeyBytes(kidText);
  if (!kid) throw badRequest("the key id must be 32 hex digits or 16 bytes of base64url");
  const id = clearKeyId(kid);
  const removedHere = store.delete(id);
  const removed = store.shared
    ? await store.shared.delete(id, removedHere)
    : { ok: true, existed: false };
  if (!removed.ok) {
    if (!removedHere) {
      return Response.json({
        error: "shared_state_unavailable",
        message: "shared state unreachable: the key is not held here and Redis cannot be asked",
      }, { status: 503, headers: { ...NO_STORE, "retry-after": "1" } });
    }
    log("info", "clearkey key removed at run time", { kid: bytesToBase64Url(kid), shared: false });
    return Response.json(
      { removed: true, shared: false, warning: SHARED_WARNING },
      { status: 200, headers: NO_STORE },
    );
  }
  if (!removedHere && !removed.existed) {
    throw new ProxyError(404, "not_found", "no such key");
  }
  log("info", "clearkey key removed at run time", { kid: bytesToBase64Url(kid) });
  return new Response(null, { status: 204, headers: NO_STORE });
}
