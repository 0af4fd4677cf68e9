/**
 * The shared key tier of a secret store: keys added at run time are also written to Redis
 * (sealed with `tokens.aes_key`), and lookups that this instance cannot answer for sure ask
 * Redis, so a key added or removed on one instance is served or refused by every instance.
 *
 * - **Fast path.** A key held locally and checked against Redis less than
 *   {@linkcode SHARED_HOLD_SECS} ago is answered synchronously, with no I/O. Keys of the
 *   configuration and keys cached from key servers are never shared and never checked.
 * - **Bound.** Past that, the next lookup asks Redis again: a removal or replacement on another
 *   instance takes effect here within {@linkcode SHARED_HOLD_SECS} while Redis answers.
 * - **Redis unreachable.** Lookups answer from the local store (including copies past their
 *   check: availability over revocation, until Redis answers or the entry's own TTL ends);
 *   `sprox_state_key_fallback_total{operation}` counts each failure and a `warn` line is logged
 *   at most once per 10 s. A key added while Redis fails stays local to this instance (never
 *   dropped by a later check), and a key removed here while Redis fails stays in Redis, until
 *   Redis answers again.
 * - **Write-back.** When the connection is ready again (and a second after any failed attempt
 *   while it is up), the changes made here while Redis failed are written to it: keys added
 *   here (with the lifetime they have left), then removals.
 * - **Lost data.** Redis keeps a random generation of the key set (`sprox:keyset`); a new one
 *   means it lost its data (a restart without persistence, a flush; a restart with its data
 *   keeps the generation, and nothing below happens). Then each shared key this instance holds
 *   that Redis confirmed at most {@linkcode SHARED_HOLD_SECS} before the loss (the keys in use)
 *   is written back too, only where Redis holds nothing for it (`SET … NX`) and nothing was
 *   removed in the last minute, so a value written or removed since wins. An older copy may
 *   be of a key removed elsewhere since; it is not brought back. Lookups answer from the local
 *   copies while a write-back runs.
 * - **Changes on their way.** A lookup never asks Redis about a key whose change made here has
 *   not reached it yet (a write in flight, a key added or removed while Redis failed and not
 *   yet written back), and an answer Redis gave from before such a change is not applied: the
 *   change wins. A worker isolate (`server.workers`) follows the first isolate's changes the
 *   same way: a change it is told of answers locally for {@linkcode SHARED_HOLD_SECS}, and
 *   keys the first isolate still owes Redis ({@linkcode SharedKeys.follow}) until written.
 * @module
 */
import { log, stateKeyFallbacks } from "../telemetry/mod.ts";
import type { HeldKeys, SecretEntryInfo } from "./entry.ts";

/** Seconds a key read from (or written to) Redis is served locally before Redis is asked again. */
export const SHARED_HOLD_SECS = 5;

/** Source of a local copy of a key another instance added. */
export const SHARED_SOURCE = "shared";

/** At most one "unreachable" warning per this many milliseconds. */
const LOG_INTERVAL_MS = 10_000;

/** How long after a failed write-back (connection up) the next one runs. */
export const WRITE_BACK_RETRY_MS = 1000;

/** Sources of the entries that are copies of the shared tier's (checked against it). */
const SHARED_SOURCES = new Set(["runtime", SHARED_SOURCE]);

/** Where shared keys are kept (Redis: `RedisKeyStore` of `src/state`). Methods throw when it fails. */
export interface SharedKeyTier {
  /** Stores `value` under `id` for `ttlSecs`; true when it replaced a value. */
  put(id: string, value: Uint8Array, ttlSecs: number): Promise<boolean>;
  /** The value and its remaining milliseconds; `undefined` when absent or unreadable. */
  get(id: string): Promise<{ readonly value: Uint8Array; readonly ttlMs: number } | undefined>;
  /** Stores `value` under `id` only when nothing is held under it; true when written. */
  putIfAbsent(id: string, value: Uint8Array, ttlSecs: number): Promise<boolean>;
  /** Removes `id`; true when it was held. */
  delete(id: string): Promise<boolean>;
  /** Identifiers starting with `prefix` and their remaining milliseconds. */
  list(prefix?: string): Promise<readonly { readonly id: string; readonly ttlMs: number }[]>;
  /** Whether commands can be sent now. */
  readonly ready: boolean;
  /** Calls `listener` each time the connection becomes ready; returns the unsubscribe. */
  onReady(listener: () => void): () => void;
  /** Calls `listener` each time the connection closes; returns the unsubscribe. */
  onClose(listener: () => void): () => void;
  /** The generation of the shared key set: a new one means the tier lost its data since. */
  generation(): Promise<string>;
  close(): void;
}

/** The outcome of a write to the shared tier. */
export type SharedWrite =
  | { readonly ok: true; readonly existed: boolean }
  | { readonly ok: false; readonly error: string };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * A secret store's view of the shared tier (built by the store from its `shared` option).
 *
 * @example
 * ```ts
 * const store = new SecretStore({ defaultTtlSecs: 300, shared: new RedisKeyStore(url, aesKey) });
 * await store.shared!.put("clearkey:00112233445566778899aabbccddeeff", key, 300);
 * await store.shared!.fetch("clearkey:00112233445566778899aabbccddeeff"); // key, on any instance
 * ```
 */
export class SharedKeys {
  #store: HeldKeys;
  #tier: SharedKeyTier;
  /** Store-clock milliseconds of the last answer of Redis for an identifier. */
  #checked = new Map<string, number>();
  /** Keys added here while Redis failed: served as this instance's own, never checked. */
  #localOnly = new Set<string>();
  /** Keys removed here while Redis failed: still to be removed from Redis. */
  #pendingRemovals = new Set<string>();
  /** The key set generation Redis had at the last complete write-back. */
  #generation: string | undefined;
  /** The write-back in progress; lookups answer locally meanwhile. */
  #writing: Promise<boolean> | undefined;
  /** What write-back rounds did since the last one that went through. */
  #written = { added: 0, removed: 0, restored: 0, emptied: false };
  #writeAgain = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Store-clock milliseconds at which the connection was last lost. */
  #lostAt: number | undefined;
  /** Writes made here that Redis has not answered yet, per identifier. */
  #inFlight = new Map<string, number>();
  /** Lookups asking Redis now, per identifier: marked when the identifier changes meanwhile. */
  #asking = new Map<string, Set<{ changed: boolean }>>();
  /** Worker isolates: identifiers the first isolate still owes Redis (see `follow`). */
  #owedElsewhere = new Set<string>();
  /** Worker isolates: store-clock milliseconds of a change the first isolate told of. */
  #notedAt = new Map<string, number>();
  #owedListeners = new Set<(ids: readonly string[]) => void>();
  /** The owed identifiers the listeners were last told of. */
  #toldOwed = "";
  /** The store this one takes over from at a reload (see `adopt`), until activated. */
  #predecessor: SharedKeys | undefined;
  #unsubscribe: () => void;
  #closed = false;
  #loggedAt = -Infinity;

  constructor(store: HeldKeys, tier: SharedKeyTier) {
    this.#store = store;
    this.#tier = tier;
    // The loss is the first close after a ready connection (each failed reconnection closes
    // again).
    let connected = tier.ready;
    const stopReady = tier.onReady(() => {
      connected = true;
      void this.writeBack();
    });
    const stopClose = tier.onClose(() => {
      if (connected) this.#lostAt = this.#store.now();
      connected = false;
    });
    this.#unsubscribe = () => {
      stopReady();
      stopClose();
    };
    // Already connected (another store opened the connection): learn the generation now.
    if (tier.ready) void this.writeBack();
  }

  /**
   * Whether the local entry of `id` may be served without asking Redis: an entry of the
   * configuration or a key server, a key added while Redis failed, or a shared key checked
   * less than {@linkcode SHARED_HOLD_SECS} ago. False when there is no local entry.
   */
  isFresh(id: string): boolean {
    const info = this.#store.info(id);
    if (!info) return false;
    if (!SHARED_SOURCES.has(info.source) || this.#answersLocally(id)) return true;
    if (this.#writing) return true;
    const checked = this.#checked.get(id);
    return checked !== undefined && this.#store.now() - checked < SHARED_HOLD_SECS * 1000;
  }

  /** Writes a key added at run time (already in the local store) to Redis. */
  async put(id: string, value: Uint8Array, ttlSecs: number): Promise<SharedWrite> {
    this.#begin(id);
    try {
      this.#pendingRemovals.delete(id);
      const existed = await this.#tier.put(id, value, ttlSecs);
      this.#checked.set(id, this.#store.now());
      this.#localOnly.delete(id);
      return { ok: true, existed };
    } catch (error) {
      this.#localOnly.add(id);
      this.#retryLater();
      return { ok: false, error: this.#fail("put", error) };
    } finally {
      this.#end(id);
    }
  }

  /**
   * Removes a key from Redis. `removedHere`: the caller removed a local entry, so a removal
   * Redis cannot take now is owed to it (written back when Redis answers again).
   */
  async delete(id: string, removedHere: boolean): Promise<SharedWrite> {
    this.#checked.delete(id);
    this.#localOnly.delete(id);
    this.#begin(id);
    try {
      const existed = await this.#tier.delete(id);
      this.#pendingRemovals.delete(id);
      return { ok: true, existed };
    } catch (error) {
      if (removedHere) {
        this.#pendingRemovals.add(id);
        this.#retryLater();
      }
      return { ok: false, error: this.#fail("delete", error) };
    } finally {
      this.#end(id);
    }
  }

  /** Identifiers whose change made here Redis has not taken yet (added or removed while it failed). */
  owed(): string[] {
    return [...new Set([...this.#localOnly, ...this.#pendingRemovals])].sort();
  }

  /**
   * Calls `listener` with {@linkcode owed} each time it changes (the first isolate tells the
   * worker isolates, which {@linkcode follow} it); returns the unsubscribe.
   */
  onOwedChange(listener: (ids: readonly string[]) => void): () => void {
    this.#owedListeners.add(listener);
    return () => this.#owedListeners.delete(listener);
  }

  /**
   * In a worker isolate: the identifiers the first isolate still owes Redis. Their local state
   * (the copy it sent, or none after a removal) is served without asking Redis until the
   * first isolate has written them.
   */
  follow(ids: readonly string[]): void {
    this.#owedElsewhere = new Set(ids);
  }

  /**
   * In a worker isolate: the first isolate changed `id` (its copy here was just set or
   * removed). For {@linkcode SHARED_HOLD_SECS} the local state is served without asking Redis,
   * which may not have the change yet.
   */
  noteChange(id: string): void {
    const now = this.#store.now();
    this.#changed(id);
    if (this.#notedAt.size >= 256) {
      for (const [other, at] of this.#notedAt) {
        if (now - at >= SHARED_HOLD_SECS * 1000) this.#notedAt.delete(other);
      }
    }
    this.#notedAt.set(id, now);
  }

  /**
   * Whether the local state of `id` is what Redis must come to hold, so Redis is not asked:
   * a change made here on its way or owed, or one the first isolate made and still owes or
   * told of less than {@linkcode SHARED_HOLD_SECS} ago.
   */
  #answersLocally(id: string): boolean {
    if (
      this.#localOnly.has(id) || this.#pendingRemovals.has(id) || this.#inFlight.has(id) ||
      this.#owedElsewhere.has(id)
    ) return true;
    const noted = this.#notedAt.get(id);
    return noted !== undefined && this.#store.now() - noted < SHARED_HOLD_SECS * 1000;
  }

  /** A write of `id` starts: lookups answer locally until it ends, and older answers are void. */
  #begin(id: string): void {
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
    this.#changed(id);
  }

  /** Voids the answers of the lookups of `id` asking Redis now. */
  #changed(id: string): void {
    for (const lookup of this.#asking.get(id) ?? []) lookup.changed = true;
  }

  #end(id: string): void {
    const left = (this.#inFlight.get(id) ?? 1) - 1;
    if (left > 0) this.#inFlight.set(id, left);
    else this.#inFlight.delete(id);
    this.#tellOwed();
  }

  /** Tells the listeners of {@linkcode onOwedChange} when the owed identifiers changed. */
  #tellOwed(): void {
    if (this.#owedListeners.size === 0) return;
    const owed = this.owed();
    const told = owed.join("\n");
    if (told === this.#toldOwed) return;
    this.#toldOwed = told;
    for (const listener of this.#owedListeners) listener(owed);
  }

  /**
   * Writes the changes made here while Redis failed back to it (see the module notes); runs on
   * every ready connection and {@linkcode WRITE_BACK_RETRY_MS} after a failure.
   * Resolves true when a round went through; false when it failed (counted as `resync`, and
   * retried) or the store is closed.
   */
  writeBack(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#writing) {
      this.#writeAgain = true;
      return this.#writing;
    }
    const run = this.#writeBackOnce().finally(() => {
      this.#writing = undefined;
      if (this.#writeAgain) {
        this.#writeAgain = false;
        void this.writeBack();
      }
    });
    this.#writing = run;
    return run;
  }

  async #writeBackOnce(): Promise<boolean> {
    // Counted across rounds until one goes through: a round cut short reports in the next.
    const done = this.#written;
    try {
      const generation = await this.#tier.generation();
      const emptied = this.#generation !== undefined && generation !== this.#generation;
      done.emptied ||= emptied;
      // When the keys were lost: at the connection's loss if there was one since the last
      // round, else now (a flush on a live connection).
      const lostAt = this.#lostAt ?? this.#store.now();
      for (const id of [...this.#localOnly]) {
        const info = this.#store.info(id);
        const value = info?.source === "runtime" ? this.#store.get(id) : undefined;
        if (info && value) {
          try {
            await this.#tier.put(id, value, this.#secondsLeft(info.expiresAt));
          } finally {
            value.fill(0);
          }
          this.#checked.set(id, this.#store.now());
          done.added++;
        }
        this.#localOnly.delete(id);
      }
      for (const id of [...this.#pendingRemovals]) {
        // Added again here since: the write above already replaced it.
        if (!this.#store.info(id) && await this.#tier.delete(id)) done.removed++;
        this.#pendingRemovals.delete(id);
      }
      if (emptied) {
        for (const info of this.#store.list()) {
          if (!this.#restorable(info, lostAt)) continue;
          const value = this.#store.get(info.id);
          if (!value) continue;
          try {
            const ttlSecs = this.#secondsLeft(info.expiresAt);
            if (await this.#tier.putIfAbsent(info.id, value, ttlSecs)) {
              done.restored++;
              this.#checked.set(info.id, this.#store.now());
            }
          } finally {
            value.fill(0);
          }
        }
      }
      this.#tellOwed();
      // Only once everything above went through: a round cut short repeats the restore.
      this.#generation = generation;
      this.#lostAt = undefined;
      if (done.added + done.removed + done.restored > 0) {
        const { added, removed, restored } = done;
        log("info", "shared keys written back to Redis", {
          added,
          removed,
          restored,
          redis_emptied: done.emptied,
        });
      }
      this.#written = { added: 0, removed: 0, restored: 0, emptied: false };
      return true;
    } catch (error) {
      // A store closed meanwhile (a reload, shutdown) owes nothing more.
      if (this.#closed) return false;
      this.#tellOwed();
      this.#fail("resync", error);
      this.#retryLater();
      return false;
    }
  }

  /**
   * Whether a held copy may be written back to a Redis that lost its data: a shared key (not
   * local-only: those are written anyway) that Redis confirmed at most
   * {@linkcode SHARED_HOLD_SECS} before the loss (`lostAt`). Within that bound a removal
   * elsewhere was not yet seen here either (the same bound as everywhere else); past it, the
   * key may have been removed since.
   */
  #restorable(info: { readonly id: string; readonly source: string }, lostAt: number): boolean {
    if (!SHARED_SOURCES.has(info.source) || this.#localOnly.has(info.id)) return false;
    const checked = this.#checked.get(info.id);
    return checked !== undefined && lostAt - checked <= SHARED_HOLD_SECS * 1000;
  }

  /** Seconds from now to `expiresAt` (store clock); `Infinity` stays. */
  #secondsLeft(expiresAt: number): number {
    return expiresAt === Infinity
      ? Infinity
      : Math.max(0.001, (expiresAt - this.#store.now()) / 1000);
  }

  /** After a failure: a write-back round a second later if the connection is up (else at ready). */
  #retryLater(): void {
    if (this.#retry !== undefined || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      // Armed by a failure only (a change Redis did not take, a round cut short, which may
      // have been a restore after lost data): the next round, or the next ready connection.
      if (this.#tier.ready) void this.writeBack();
    }, WRITE_BACK_RETRY_MS);
    // A pending write-back never keeps the process alive (validate, shutdown).
    Deno.unrefTimer(this.#retry);
  }

  /**
   * The key of `id` as Redis has it now, kept in the local store with its remaining TTL (so
   * the next lookups within {@linkcode SHARED_HOLD_SECS} need no round trip); a local copy of
   * a key Redis no longer holds is dropped. When Redis fails: the local entry, if any.
   */
  async fetch(id: string): Promise<Uint8Array | undefined> {
    const local = this.#store.info(id);
    if (
      (local && (!SHARED_SOURCES.has(local.source) || this.#writing)) || this.#answersLocally(id)
    ) {
      return this.#store.get(id);
    }
    const lookup = { changed: false };
    const asking = this.#asking.get(id) ?? new Set();
    asking.add(lookup);
    this.#asking.set(id, asking);
    let entry: { readonly value: Uint8Array; readonly ttlMs: number } | undefined;
    try {
      entry = await this.#tier.get(id);
    } catch (error) {
      this.#fail("get", error);
      return this.#store.get(id);
    } finally {
      asking.delete(lookup);
      if (asking.size === 0) this.#asking.delete(id);
    }
    // Changed here while Redis answered: its answer is from before the change, which wins.
    // Likewise an entry Redis does not speak for that took the identifier's place meanwhile
    // (a configuration key): it stays as it is.
    const held = this.#store.info(id);
    if (
      lookup.changed || this.#answersLocally(id) || (held && !SHARED_SOURCES.has(held.source))
    ) {
      entry?.value.fill(0);
      return this.#store.get(id);
    }
    const now = this.#store.now();
    if (!entry || entry.ttlMs <= 0) {
      this.#checked.delete(id);
      if (held) this.#store.delete(id);
      return undefined;
    }
    this.#checked.set(id, now);
    const current = this.#store.get(id);
    const expiresAt = now + entry.ttlMs;
    const unchanged = current !== undefined && held !== undefined &&
      sameBytes(current, entry.value) && Math.abs(held.expiresAt - expiresAt) < 1000;
    current?.fill(0);
    if (!unchanged) {
      this.#store.set(id, entry.value, {
        ttlSecs: entry.ttlMs === Infinity ? Infinity : entry.ttlMs / 1000,
        source: held?.source === "runtime" ? "runtime" : SHARED_SOURCE,
      });
    }
    return entry.value;
  }

  /**
   * The live entries starting with `prefix` across instances: Redis's (with their TTL there)
   * and the local ones Redis does not speak for (configuration, key servers, and keys whose
   * change here is on its way or owed: listed as they are here, or not at all when removed).
   * When Redis fails: the local list.
   */
  async list(prefix = ""): Promise<SecretEntryInfo[]> {
    const local = this.#store.list(prefix);
    let shared: readonly { readonly id: string; readonly ttlMs: number }[];
    try {
      shared = await this.#tier.list(prefix);
    } catch (error) {
      this.#fail("list", error);
      return local;
    }
    const now = this.#store.now();
    const byId = new Map<string, SecretEntryInfo>();
    for (const entry of local) {
      if (!SHARED_SOURCES.has(entry.source) || this.#answersLocally(entry.id)) {
        byId.set(entry.id, entry);
      }
    }
    const localSource = new Map(local.map((e) => [e.id, e.source]));
    for (const { id, ttlMs } of shared) {
      // A change on its way or owed: Redis lists the state from before it.
      if (byId.has(id) || this.#answersLocally(id)) continue;
      const source = localSource.get(id) === "runtime" ? "runtime" : SHARED_SOURCE;
      byId.set(id, { id, expiresAt: now + ttlMs, source });
    }
    return [...byId.values()];
  }

  /**
   * Takes over what `previous` (the store of the plan a reload replaces) knew. What it owes
   * Redis moves here when this store's plan is put in place ({@linkcode activate}): a reload
   * may yet be abandoned, and one store writes each change back, not two.
   */
  adopt(previous: SharedKeys): void {
    this.#predecessor = previous;
    for (const id of previous.#owedElsewhere) this.#owedElsewhere.add(id);
    for (const [id, at] of previous.#notedAt) this.#notedAt.set(id, at);
    this.#generation ??= previous.#generation;
    this.#lostAt ??= previous.#lostAt;
    for (const [id, at] of previous.#checked) {
      if (!this.#checked.has(id)) this.#checked.set(id, at);
    }
  }

  /**
   * This store's plan serves from now on: what the store it replaces owes Redis moves here and
   * is written back (a change a request of the old plan still makes stays owed there).
   */
  activate(): void {
    const previous = this.#predecessor;
    if (!previous) return;
    this.#predecessor = undefined;
    for (const id of previous.#localOnly) this.#localOnly.add(id);
    for (const id of previous.#pendingRemovals) this.#pendingRemovals.add(id);
    previous.#localOnly.clear();
    previous.#pendingRemovals.clear();
    // What followers were told is now this store's to update (the old one owes nothing).
    this.#toldOwed = previous.#toldOwed;
    previous.#toldOwed = "";
    // Connected already: learn the generation, and write what is owed.
    if (this.#tier.ready) void this.writeBack();
    else if (this.#localOnly.size > 0 || this.#pendingRemovals.size > 0) this.#retryLater();
  }

  /** Stops the write-backs and releases the tier's connection. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#tier.close();
  }

  #fail(operation: string, error: unknown): string {
    stateKeyFallbacks.labels(operation).inc();
    const message = error instanceof Error ? error.message : String(error);
    const now = performance.now();
    if (now - this.#loggedAt >= LOG_INTERVAL_MS) {
      this.#loggedAt = now;
      log("warn", "shared state unreachable; keys served from the local secret store", {
        operation,
        error: message,
      });
    }
    return message;
  }
}
