/**
 * ClearKey keys shared through Redis (`state.redis_url` with `tokens.aes_key`), over real
 * sockets: sProx processes and one real `redis-server` on loopback. A key added on one instance
 * through the admin API is served by the other's license endpoint and listed by its `/keys`;
 * a removal and a TTL reach the other instance; Redis holds only sealed values, bound to their
 * key id; another AES_KEY reads nothing; when Redis stops, keys held locally and keys of the
 * configuration are still served and `sprox_state_key_fallback_total` counts the failures;
 * changes made while Redis was down are written back when it answers, and a Redis that lost its
 * data gets back the keys in use (not a key idle past the 5 s hold, not a removed one); with
 * worker isolates, every isolate serves those changes until the first has written them back.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  deadline,
  freePort,
  scratchDir,
  type SproxProcess,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { redisCall, startRedis } from "./_support/redis.ts";
import { b64url, hexBytes } from "./_support/encoding.ts";

const AES_KEY = "5c".repeat(16) + "a3".repeat(16);
const OTHER_AES_KEY = "77".repeat(32);
const ADMIN_TOKEN = "admin-token-for-shared-keys-test-0123456789";
const CONFIG_KID = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const CONFIG_KEY = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
const UNREADABLE_WARNING = "shared key unreadable with this AES_KEY; treated as missing";
const FALLBACK_WARNING = "shared state unreachable; keys served from the local secret store";
/** The documented bound (SHARED_HOLD_SECS = 5) plus room for a loaded machine. */
const PROPAGATION_DEADLINE_MS = 20_000;

/** Distinct 16-byte test keys and kids. */
function hex16(seed: number): string {
  return Array.from(
    { length: 16 },
    (_, i) => ((seed * 37 + i * 11) & 0xff).toString(16).padStart(2, "0"),
  )
    .join("");
}

function config(port: number, adminPort: number, redisPort: number, extra = ""): string {
  return `${extra}routes:
  - id: edge
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["edge.test"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit: { enabled: false }
secrets:
  default_ttl_secs: 300
  clearkey:
    - { kid: "${CONFIG_KID}", key: "${CONFIG_KEY}" }
admin:
  enabled: true
  listen: { host: 127.0.0.1, port: ${adminPort} }
state:
  redis_url: "redis://127.0.0.1:${redisPort}"
`;
}

interface Instance {
  readonly port: number;
  readonly adminPort: number;
  readonly process: SproxProcess;
}

async function startInstance(
  redisPort: number,
  aesKey: string,
  extra = "",
): Promise<Instance> {
  const port = freePort();
  const adminPort = freePort();
  const process = await startSprox(config(port, adminPort, redisPort, extra), {
    env: { AES_KEY: aesKey, SPROX_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  await process.waitForLog((l) => l.msg === "admin API listening", 10_000);
  return { port, adminPort, process };
}

async function admin(
  instance: Instance,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${instance.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: deadline(),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : JSON.parse(text) };
}

function putKey(instance: Instance, kid: string, key: string, ttlSecs: number) {
  return admin(instance, "PUT", `/admin/keys/clearkey/${kid}`, { key, ttl_secs: ttlSecs });
}

/** An EME license request for `kids` (hex) on the public listener. */
async function license(instance: Instance, ...kids: string[]): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${instance.port}/keys/clearkey`, {
    method: "POST",
    body: JSON.stringify({ kids: kids.map(b64url), type: "temporary" }),
    signal: deadline(),
  });
  assertEquals(response.status, 200);
  return await response.json();
}

function licenseOf(...pairs: [kid: string, key: string][]): unknown {
  return {
    keys: pairs.map(([kid, key]) => ({ kty: "oct", kid: b64url(kid), k: b64url(key) })),
    type: "temporary",
  };
}

async function metrics(instance: Instance): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${instance.port}/metrics`, {
    signal: deadline(),
  });
  return await response.text();
}

function counter(text: string, operation: string): number {
  const match = text.match(
    new RegExp(`^sprox_state_key_fallback_total\\{operation="${operation}"\\} (\\d+)$`, "m"),
  );
  return match ? Number(match[1]) : 0;
}

/**
 * An EME license request for `kids` on a connection of its own (so the kernel spreads them
 * across isolates): the license, and the isolate that answered (its request log line's
 * `worker`).
 */
async function licenseFromSomeIsolate(
  instance: Instance,
  ...kids: string[]
): Promise<{ answer: unknown; worker: unknown }> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(`http://127.0.0.1:${instance.port}/keys/clearkey`, {
      method: "POST",
      body: JSON.stringify({ kids: kids.map(b64url), type: "temporary" }),
      client,
      signal: deadline(),
    });
    assertEquals(response.status, 200);
    const answer = await response.json();
    const id = response.headers.get("x-request-id");
    const line = await instance.process.waitForLog(
      (l) => l.msg === "request" && l.request_id === id,
      5_000,
    );
    return { answer, worker: line.worker };
  } finally {
    client.close();
  }
}

/** Polls `check` until it returns true; fails after `ms` (no timed assertion on the way). */
async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("shared keys: PUT on A is served by B, DELETE and TTL reach B, Redis holds only sealed values", async () => {
  const redis = await startRedis();
  let redisRunning = true;
  const call = (...args: string[]) => redisCall(redis.port, ...args);
  const instances: Instance[] = [];
  try {
    const a = await startInstance(redis.port, AES_KEY);
    instances.push(a);
    const b = await startInstance(redis.port, AES_KEY);
    instances.push(b);

    // Added on A, served by B's license endpoint.
    const kid1 = hex16(1);
    const key1 = hex16(2);
    assertEquals(await putKey(a, kid1, key1, 3600), {
      status: 201,
      body: {
        kind: "clearkey",
        id: kid1,
        kid: b64url(kid1),
        source: "runtime",
        expires_in_secs: 3600,
        shared: true,
      },
    });
    assertEquals(await license(b, kid1), licenseOf([kid1, key1]));
    // The same PUT on B replaces the shared key: 200, known across instances.
    assertEquals((await putKey(b, kid1, key1, 3600)).status, 200);

    // B's /keys lists it (never the value), and so does B's admin listing.
    const listing = await fetch(`http://127.0.0.1:${b.port}/keys`, { signal: deadline() });
    const listed = (await listing.json()) as { keys: Record<string, unknown>[] };
    const entry = listed.keys.find((k) => k.id === kid1)!;
    assertEquals({ ...entry, expires_in_secs: undefined }, {
      kind: "clearkey",
      id: kid1,
      kid: b64url(kid1),
      expires_in_secs: undefined,
    });
    const left = entry.expires_in_secs as number;
    assert(left > 3500 && left <= 3600, `expires_in_secs ${left}`);
    assert(listed.keys.some((k) => k.id === CONFIG_KID));
    const jwks = await fetch(`http://127.0.0.1:${b.port}/keys/clearkey`, { signal: deadline() });
    const set = (await jwks.json()) as { keys: { kid: string; k: string }[] };
    assertEquals(
      set.keys.filter((k) => k.kid === b64url(kid1)),
      [{ kty: "oct", kid: b64url(kid1), k: b64url(key1) }],
    );

    // Redis holds the entry with its TTL, sealed: no form of the key, raw bytes included.
    const redisKey = `sprox:key:clearkey:${kid1}`;
    const ttl = (await call("PTTL", redisKey)) as number;
    assert(ttl > 3_500_000 && ttl <= 3_600_000, `PTTL ${ttl}`);
    const keyBytes = hexBytes(key1);
    const forms = [key1, key1.toUpperCase(), b64url(key1), btoa(String.fromCharCode(...keyBytes))];
    let scanned = 0;
    for (const name of (await call("KEYS", "*")) as string[]) {
      if ((await call("TYPE", name)) !== "string") continue;
      const latin1 = (await call("GET", name)) as string;
      assert(latin1 !== null);
      for (const form of [...forms, String.fromCharCode(...keyBytes)]) {
        assert(!latin1.includes(form), `plaintext key in Redis under ${name}`);
      }
      scanned++;
    }
    assert(scanned >= 1, "the sealed entry was scanned");
    const sealed = (await call("GET", redisKey)) as string;
    assert(sealed.startsWith("v1."), sealed);

    // A sealed value copied to another key id is refused on both instances: AAD binds the id.
    const kidMoved = hex16(3);
    await call("SET", `sprox:key:clearkey:${kidMoved}`, sealed, "PX", "60000");
    assertEquals(await license(b, kidMoved), licenseOf());
    assertEquals(await license(a, kidMoved), licenseOf());
    const unreadable = await b.process.waitForLog((l) => l.msg === UNREADABLE_WARNING, 5_000);
    assertEquals(unreadable.level, "warn");

    // DELETE on A: gone from Redis at once, and B stops serving it within the hold bound.
    assertEquals(await admin(a, "DELETE", `/admin/keys/clearkey/${kid1}`), {
      status: 204,
      body: null,
    });
    assertEquals(await call("EXISTS", redisKey), 0);
    assertEquals(await license(a, kid1), licenseOf());
    await eventually("B stops serving the deleted key", PROPAGATION_DEADLINE_MS, async () => {
      const answer = await license(b, kid1);
      if (JSON.stringify(answer) === JSON.stringify(licenseOf())) return true;
      assertEquals(answer, licenseOf([kid1, key1]));
      return false;
    });
    assertEquals(
      await admin(b, "DELETE", `/admin/keys/clearkey/${kid1}`),
      { status: 404, body: { error: "not_found", message: "no such key" } },
    );

    // A key added on B and deleted on A (never held by A).
    const kid5 = hex16(9);
    assertEquals((await putKey(b, kid5, hex16(10), 600)).status, 201);
    assertEquals(await admin(a, "DELETE", `/admin/keys/clearkey/${kid5}`), {
      status: 204,
      body: null,
    });
    await eventually(
      "B stops serving its own key deleted on A",
      PROPAGATION_DEADLINE_MS,
      async () => {
        const answer = await license(b, kid5);
        return JSON.stringify(answer) === JSON.stringify(licenseOf());
      },
    );

    // TTL: Redis expires the entry, and B stops serving it.
    const kid2 = hex16(4);
    const key2 = hex16(5);
    assertEquals((await putKey(a, kid2, key2, 2)).status, 201);
    const ttl2 = (await call("PTTL", `sprox:key:clearkey:${kid2}`)) as number;
    assert(ttl2 > 0 && ttl2 <= 2000, `PTTL ${ttl2}`);
    const early = await license(b, kid2);
    // A loaded machine may already be past the 2 s.
    assert(
      JSON.stringify(early) === JSON.stringify(licenseOf([kid2, key2])) ||
        JSON.stringify(early) === JSON.stringify(licenseOf()),
      JSON.stringify(early),
    );
    await eventually("the key expires in Redis", PROPAGATION_DEADLINE_MS, async () => {
      return (await call("EXISTS", `sprox:key:clearkey:${kid2}`)) === 0;
    });
    await eventually("B stops serving the expired key", PROPAGATION_DEADLINE_MS, async () => {
      return JSON.stringify(await license(b, kid2)) === JSON.stringify(licenseOf());
    });

    // Redis stops: B keeps serving the key it holds and the configuration's; nothing crashes.
    const kid3 = hex16(6);
    const key3 = hex16(7);
    assertEquals((await putKey(a, kid3, key3, 600)).status, 201);
    assertEquals(await license(b, kid3), licenseOf([kid3, key3]));
    const stoppedAt = Date.now();
    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    redisRunning = false;

    const unknown = hex16(8);
    // Whether or not B's copy was checked lately, it answers it (from Redis, or locally).
    assertEquals(
      await license(b, kid3, CONFIG_KID, unknown),
      licenseOf([kid3, key3], [CONFIG_KID, CONFIG_KEY]),
    );
    assertEquals(await license(b, kid3), licenseOf([kid3, key3]));
    const getsFailed = counter(await metrics(b), "get");
    assert(getsFailed >= 1, "a failed Redis lookup is counted");
    assertEquals(await license(b, unknown), licenseOf());
    assertEquals(counter(await metrics(b), "get"), getsFailed + 1);
    // A warning now, or one already in the 10 s before (a slow Redis answer on a loaded
    // machine falls back too): one per 10 s, never one per lookup.
    const recent = (l: { msg?: unknown; ts?: unknown }) =>
      l.msg === FALLBACK_WARNING && Date.parse(String(l.ts)) >= stoppedAt - 10_000;
    const warning = await b.process.waitForLog(recent, 5_000);
    assertEquals(warning.level, "warn");
    assert(!JSON.stringify(warning).includes(key3), "no key material in the warning");
    const times = b.process.logs.filter((l) => l.msg === FALLBACK_WARNING).map((l) =>
      Date.parse(String(l.ts))
    );
    for (let i = 1; i < times.length; i++) {
      assert(times[i] - times[i - 1] >= 9_990, `warnings ${times[i] - times[i - 1]} ms apart`);
    }

    // Admin changes while Redis is down: made locally, and the answer says so.
    const kid4 = hex16(11);
    const key4 = hex16(12);
    assertEquals(await putKey(a, kid4, key4, 600), {
      status: 201,
      body: {
        kind: "clearkey",
        id: kid4,
        kid: b64url(kid4),
        source: "runtime",
        expires_in_secs: 600,
        shared: false,
        warning:
          "shared state unreachable: changed on this instance only until Redis answers again",
      },
    });
    assertEquals(await license(a, kid4), licenseOf([kid4, key4]));
    assertEquals(counter(await metrics(a), "put"), 1);
    assertEquals(await admin(a, "DELETE", `/admin/keys/clearkey/${kid4}`), {
      status: 200,
      body: {
        removed: true,
        shared: false,
        warning:
          "shared state unreachable: changed on this instance only until Redis answers again",
      },
    });
    assertEquals(await admin(a, "DELETE", `/admin/keys/clearkey/${unknown}`), {
      status: 503,
      body: {
        error: "shared_state_unavailable",
        message: "shared state unreachable: the key is not held here and Redis cannot be asked",
      },
    });
    assertEquals(counter(await metrics(a), "delete"), 2);
    const keysList = await fetch(`http://127.0.0.1:${b.port}/keys`, { signal: deadline() });
    assertEquals(keysList.status, 200);
    await keysList.body?.cancel();
    assert(counter(await metrics(b), "list") >= 1);

    for (const instance of instances.splice(0)) assertEquals(await instance.process.stop(), 0);
  } finally {
    for (const instance of instances) await instance.process.stop().catch(() => {});
    if (redisRunning) {
      redis.process.kill("SIGKILL");
      await redis.process.status;
    }
  }
});

Deno.test("shared keys: an instance with another AES_KEY treats every shared key as missing", async () => {
  const redis = await startRedis();
  const instances: Instance[] = [];
  try {
    const a = await startInstance(redis.port, AES_KEY);
    instances.push(a);
    const c = await startInstance(redis.port, OTHER_AES_KEY);
    instances.push(c);
    const kid = hex16(21);
    const key = hex16(22);
    assertEquals((await putKey(a, kid, key, 600)).status, 201);
    assertEquals(await license(c, kid, CONFIG_KID), licenseOf([CONFIG_KID, CONFIG_KEY]));
    const line = await c.process.waitForLog((l) => l.msg === UNREADABLE_WARNING, 5_000);
    assertEquals(line.id, `clearkey:${kid}`);
    assert(!JSON.stringify(c.process.logs).includes(key), "no key material in the logs");
    // The instance holding the right key still serves it.
    assertEquals(await license(a, kid), licenseOf([kid, key]));
    for (const instance of instances.splice(0)) assertEquals(await instance.process.stop(), 0);
  } finally {
    for (const instance of instances) await instance.process.stop().catch(() => {});
    redis.process.kill("SIGKILL");
    await redis.process.status;
  }
});

Deno.test("shared keys: state.redis_url without AES_KEY warns at validation and keeps keys local", async () => {
  const redis = await startRedis();
  let instance: SproxProcess | undefined;
  try {
    const port = freePort();
    const adminPort = freePort();
    instance = await startSprox(config(port, adminPort, redis.port), {
      env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    const warning = await instance.waitForLog(
      (l) => JSON.stringify(l).includes("is set without tokens.aes_key (AES_KEY)"),
      10_000,
    );
    assertEquals(warning.level, "warn");
    await instance.waitForLog((l) => l.msg === "admin API listening", 10_000);
    const local: Instance = { port, adminPort, process: instance };
    const kid = hex16(31);
    assertEquals(await putKey(local, kid, hex16(32), 600), {
      status: 201,
      body: {
        kind: "clearkey",
        id: kid,
        kid: b64url(kid),
        source: "runtime",
        expires_in_secs: 600,
      },
    });
    assertEquals(await redisCall(redis.port, "KEYS", "sprox:key:*"), []);
    assertEquals(await instance.stop(), 0);
    instance = undefined;
  } finally {
    await instance?.stop().catch(() => {});
    redis.process.kill("SIGKILL");
    await redis.process.status;
  }
});

Deno.test("shared keys: changes made while Redis is down are written back; a Redis that lost its data gets the keys in use again", async () => {
  const dir = await scratchDir();
  let redis: { port: number; process: Deno.ChildProcess } | undefined = await startRedis({ dir });
  const port = redis.port;
  const call = (...args: string[]) => redisCall(port, ...args);
  const stopRedis = async () => {
    redis!.process.kill("SIGKILL");
    await withTimeout(redis!.process.status, 5_000, "redis-server to exit");
    redis = undefined;
  };
  const instances: Instance[] = [];
  try {
    const a = await startInstance(port, AES_KEY);
    instances.push(a);
    const b = await startInstance(port, AES_KEY);
    instances.push(b);
    const [kidKept, keyKept] = [hex16(41), hex16(42)];
    const [kidGone, keyGone] = [hex16(43), hex16(44)];
    const [kidNew, keyNew] = [hex16(45), hex16(46)];
    const [kidCold, keyCold] = [hex16(47), hex16(48)];
    assertEquals((await putKey(a, kidCold, keyCold, 600)).status, 201);
    // Never looked up again: past the 5 s hold it is not written back to an empty Redis.
    const coldConfirmedAt = Date.now();
    assertEquals((await putKey(a, kidKept, keyKept, 600)).status, 201);
    assertEquals((await putKey(a, kidGone, keyGone, 600)).status, 201);
    assertEquals(
      await license(b, kidKept, kidGone),
      licenseOf([kidKept, keyKept], [kidGone, keyGone]),
    );

    // Redis goes away with what it holds on disk: A adds one key and removes another.
    await stopRedis();
    assertEquals((await putKey(a, kidNew, keyNew, 600)).body, {
      kind: "clearkey",
      id: kidNew,
      kid: b64url(kidNew),
      source: "runtime",
      expires_in_secs: 600,
      shared: false,
      warning: "shared state unreachable: changed on this instance only until Redis answers again",
    });
    assertEquals((await admin(a, "DELETE", `/admin/keys/clearkey/${kidGone}`)).status, 200);

    // Back with its data (and a new run): both changes reach Redis without being repeated.
    // (`removed` counts the removals Redis held a key for: it kept the removed one on disk.)
    redis = await startRedis({ port, dir });
    const line = await a.process.waitForLog(
      (l) => l.msg === "shared keys written back to Redis",
      PROPAGATION_DEADLINE_MS,
    );
    assertEquals(
      { added: line.added, removed: line.removed, restored: line.restored },
      { added: 1, removed: 1, restored: 0 },
    );
    // Redis came back with its data: nothing lost, nothing restored.
    assertEquals(line.redis_emptied, false);
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidGone}`), 0);
    const ttl = (await call("PTTL", `sprox:key:clearkey:${kidNew}`)) as number;
    assert(ttl > 500_000 && ttl <= 600_000, `PTTL ${ttl}`);
    assertEquals(await license(b, kidNew), licenseOf([kidNew, keyNew]));
    await eventually("B stops serving the key removed on A", PROPAGATION_DEADLINE_MS, async () => {
      return JSON.stringify(await license(b, kidGone)) === JSON.stringify(licenseOf());
    });

    // Redis comes back empty (no persistence). The keys in use (looked up on A just before)
    // are written back; the cold key, last confirmed more than 5 s before, is not (it might
    // have been removed elsewhere since); a new instance finds exactly the keys in use.
    await new Promise((r) => setTimeout(r, Math.max(0, coldConfirmedAt + 6_000 - Date.now())));
    assertEquals(
      await license(a, kidKept, kidNew),
      licenseOf([kidKept, keyKept], [kidNew, keyNew]),
    );
    await stopRedis();
    redis = await startRedis({ port });
    await eventually("the keys in use are written back", PROPAGATION_DEADLINE_MS, async () => {
      return (await call("EXISTS", `sprox:key:clearkey:${kidKept}`)) === 1 &&
        (await call("EXISTS", `sprox:key:clearkey:${kidNew}`)) === 1;
    });
    const restoredLine = await a.process.waitForLog(
      (l) => l.msg === "shared keys written back to Redis" && l.restored !== 0,
      PROPAGATION_DEADLINE_MS,
    );
    assertEquals(restoredLine.redis_emptied, true);
    // A's round restored kidKept and kidNew together (and would have kidCold).
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidCold}`), 0);
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidGone}`), 0);
    const c = await startInstance(port, AES_KEY);
    instances.push(c);
    assertEquals(
      await license(c, kidKept, kidNew, kidGone, kidCold),
      licenseOf([kidKept, keyKept], [kidNew, keyNew]),
    );
    for (const instance of instances.splice(0)) assertEquals(await instance.process.stop(), 0);
  } finally {
    for (const instance of instances) await instance.process.stop().catch(() => {});
    if (redis) await stopRedis().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("shared keys with worker isolates: a key added and one removed while Redis failed are served as changed by every isolate until the first isolate has written them back", async () => {
  const dir = await scratchDir();
  let redis: { port: number; process: Deno.ChildProcess } | undefined = await startRedis({ dir });
  const port = redis.port;
  const call = (...args: string[]) => redisCall(port, ...args);
  const instances: Instance[] = [];
  try {
    const a = await startInstance(port, AES_KEY, "server: { workers: 2 }\n");
    instances.push(a);
    await a.process.waitForLog((l) => l.msg === "worker isolates started", 10_000);
    const [kidGone, keyGone] = [hex16(51), hex16(52)];
    const [kidNew, keyNew] = [hex16(53), hex16(54)];
    assertEquals((await putKey(a, kidGone, keyGone, 600)).body, {
      kind: "clearkey",
      id: kidGone,
      kid: b64url(kidGone),
      source: "runtime",
      expires_in_secs: 600,
      shared: true,
    });
    // The first isolate's write-backs will fail once Redis is back (the key set's generation
    // is not a string any more), so the changes below stay owed while the worker reads Redis.
    await call("DEL", "sprox:keyset");
    await call("RPUSH", "sprox:keyset", "not-a-generation");

    redis.process.kill("SIGKILL");
    await withTimeout(redis.process.status, 5_000, "redis-server to exit");
    redis = undefined;
    assertEquals(
      ((await putKey(a, kidNew, keyNew, 600)).body as { shared: boolean }).shared,
      false,
    );
    assertEquals((await admin(a, "DELETE", `/admin/keys/clearkey/${kidGone}`)).body, {
      removed: true,
      shared: false,
      warning: "shared state unreachable: changed on this instance only until Redis answers again",
    });
    const changedAt = Date.now();
    const failedBefore = counter(await metrics(a), "resync");

    // Back with its data: Redis still holds the removed key and not the new one.
    redis = await startRedis({ port, dir });
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidGone}`), 1);
    await eventually(
      "both isolates connected to Redis again",
      PROPAGATION_DEADLINE_MS,
      async () => {
        const clients = String(await call("CLIENT", "LIST")).trim().split("\n");
        // Both isolates' connections, and this one's.
        return clients.length >= 3;
      },
    );
    await eventually("a failed write-back", PROPAGATION_DEADLINE_MS, async () => {
      return counter(await metrics(a), "resync") > failedBefore;
    });

    // Past the 5 s a worker serves a change it was told of without asking Redis: from here on
    // only the first isolate's owed keys keep it from taking Redis's word.
    await new Promise((r) => setTimeout(r, Math.max(0, changedAt + 5_500 - Date.now())));
    // Every isolate serves the new key and not the removed one (new connections, spread by
    // the kernel, until the worker isolate answered three of them).
    const servedBy = new Map<unknown, number>();
    for (let i = 0; i < 200 && (servedBy.get(1) ?? 0) < 3; i++) {
      const { answer, worker } = await licenseFromSomeIsolate(a, kidNew, kidGone);
      assertEquals({ worker, answer }, { worker, answer: licenseOf([kidNew, keyNew]) });
      servedBy.set(worker, (servedBy.get(worker) ?? 0) + 1);
    }
    assertEquals((servedBy.get(1) ?? 0) >= 3, true, `served by ${[...servedBy]}`);
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidNew}`), 0);

    // A reload in between: the new plans take over what is owed and who was told.
    a.process.kill("SIGHUP");
    await a.process.waitForLog((l) => l.msg === "config reloaded", 10_000);

    // The generation mended: the next round writes both changes, and Redis speaks for them.
    await call("DEL", "sprox:keyset");
    const line = await a.process.waitForLog(
      (l) => l.msg === "shared keys written back to Redis",
      PROPAGATION_DEADLINE_MS,
    );
    assertEquals({ added: line.added, removed: line.removed }, { added: 1, removed: 1 });
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidGone}`), 0);
    assertEquals(await call("EXISTS", `sprox:key:clearkey:${kidNew}`), 1);
    assertEquals(await license(a, kidNew, kidGone), licenseOf([kidNew, keyNew]));
    // Owed no more: removed in Redis (by another instance; by hand here), the new key is
    // refused by every isolate within the 5 s bound.
    await call("DEL", `sprox:key:clearkey:${kidNew}`);
    await new Promise((r) => setTimeout(r, 5_500));
    const served = new Set<unknown>();
    for (let i = 0; i < 200 && served.size < 2; i++) {
      const { answer, worker } = await licenseFromSomeIsolate(a, kidNew);
      assertEquals({ worker, answer }, { worker, answer: licenseOf() });
      served.add(worker);
    }
    assertEquals([...served].sort(), [0, 1]);
    for (const instance of instances.splice(0)) assertEquals(await instance.process.stop(), 0);
  } finally {
    for (const instance of instances) await instance.process.stop().catch(() => {});
    if (redis) {
      redis.process.kill("SIGKILL");
      await redis.process.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
