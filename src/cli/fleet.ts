/**
 * The isolates serving one process: the first isolate's server, and with
 * `server.workers` > 1 the worker isolates beside it. A reload is prepared in every isolate,
 * then committed in all of them or in none; `/metrics` adds up every isolate; rate-limit
 * buckets and runtime keys are held by the first isolate and reached or copied by the
 * others; a shutdown drains them all.
 * @module
 */
import type { Plan } from "../app/mod.ts";
import type { LoadedConfig } from "../config/mod.ts";
import type { ProxyServer } from "../edge/mod.ts";
import { WorkerPool, type WorkerStatus } from "../edge/workers/mod.ts";
import type { SecretStoreChange } from "../secrets/mod.ts";
import type { RateLimitDecision } from "../state/mod.ts";
import { sendKeySet } from "./key_notes.ts";
import {
  log,
  type MetricsSnapshot,
  rememberProblemLines,
  snapshotMetrics,
  useSnapshotSource,
  writeLogText,
} from "../telemetry/mod.ts";

/** How many isolates `server.workers` asks for on this machine. */
export function workerCount(setting: number | "auto"): number {
  if (setting !== "auto") return setting;
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** Every isolate of the process, reloaded and stopped together. */
export class Fleet {
  readonly server: ProxyServer<Plan>;
  #pool: WorkerPool | null = null;
  #unobserve: (() => void) | null = null;
  readonly #trim: (() => void) | null;

  /**
   * @param trim the process's `malloc_trim` (see `server.memory_return`): run here, in the
   * first isolate, whenever a worker isolate has collected its garbage.
   */
  constructor(server: ProxyServer<Plan>, trim: (() => void) | null = null) {
    this.server = server;
    this.#trim = trim;
  }

  /** The plan the first isolate serves (what the admin API shows). */
  get plan(): Plan {
    return this.server.plan;
  }

  /** Worker isolates beside the first, with the plan each one serves. */
  workers(): WorkerStatus[] {
    return this.#pool?.status() ?? [];
  }

  /** Starts `count - 1` worker isolates beside the first (none when `count` is 1). */
  async startWorkers(count: number, loaded: LoadedConfig): Promise<void> {
    if (count <= 1) return;
    const ports = new Map([...this.server.addresses].map(([key, addr]) => [key, addr.port]));
    this.#pool = await WorkerPool.start({
      module: new URL("./worker.ts", import.meta.url),
      count: count - 1,
      loaded,
      ports,
      services: {
        requests: {
          "snapshots": () => this.#snapshots(),
          "bucket.take": (key) => this.#take(String(key)),
        },
        notes: {
          // One writer for the process: worker batches are whole lines.
          "log": (text) => {
            const lines = String(text);
            writeLogText(lines, lines.split("\n").length - 1);
            // The admin console's recent problems cover every isolate.
            rememberProblemLines(lines);
          },
          // A worker gave its heap back: what it freed into the C library goes back too.
          "memory.collected": () => this.#trim?.(),
        },
      },
      restarted: (send) => sendKeySet(this.server.plan.secrets, send),
    });
    useSnapshotSource(() => this.#snapshots());
    this.#observeKeys();
    log("info", "worker isolates started", { workers: count, ports: Object.fromEntries(ports) });
  }

  /** Spends a token of the first isolate's bucket for a worker. */
  #take(key: string): RateLimitDecision {
    const limiter = this.server.plan.policy.limiter;
    // Off in the first isolate's plan: a reload turned it off while this request was on its
    // way (the worker's plan is swapped a moment later). Nothing to enforce.
    return limiter?.take(key) ?? { allowed: true, remaining: 0, resetSecs: 0, retryAfterSecs: 0 };
  }

  async #snapshots(): Promise<MetricsSnapshot[]> {
    const own = await snapshotMetrics();
    const others = this.#pool ? await this.#pool.collect<MetricsSnapshot>("snapshot") : [];
    return [own, ...others];
  }

  /** Copies keys added or removed at run time (admin API) to every worker isolate. */
  #observeKeys(): void {
    this.#unobserve?.();
    const pool = this.#pool;
    if (!pool) return;
    const secrets = this.server.plan.secrets;
    const unobserve = secrets.observe((change: SecretStoreChange) => {
      if (change.source === "runtime") {
        pool.broadcast("key", { id: change.id, value: change.value, ttlSecs: change.ttlSecs });
      }
      // Posting copied it; this copy is wiped.
      change.value?.fill(0);
    });
    // Keys added or removed here while Redis failed: the workers serve their copies (or their
    // absence) without asking Redis until this isolate has written them back.
    const unfollow = secrets.shared?.onOwedChange((ids) => pool.broadcast("keys.owed", ids));
    this.#unobserve = () => {
      unobserve();
      unfollow?.();
    };
  }

  /**
   * Reloads every isolate: each prepares the new plan (binding new listeners), then all
   * commit; if any isolate fails to prepare, all abandon it and the error is thrown.
   */
  async reload(loaded: LoadedConfig): Promise<void> {
    const pool = this.#pool;
    if (!pool) {
      await this.server.reload(loaded);
      return;
    }
    const own = await this.server.prepare(loaded);
    let others: Awaited<ReturnType<WorkerPool["prepare"]>>;
    try {
      others = await pool.prepare(loaded, own.ports);
    } catch (error) {
      await own.abort();
      throw error;
    }
    await own.commit();
    // Keys the admin API adds from now on go to the new plan's store: observed at once.
    this.#observeKeys();
    await others.commit();
    // Changes that reached a worker's old plan between its prepare and its commit are lost
    // there: every worker gets the whole set again.
    sendKeySet(this.server.plan.secrets, (kind, payload) => pool.broadcast(kind, payload));
  }

  /** Drains every isolate for up to `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    this.#unobserve?.();
    await Promise.all([this.server.shutdown(graceMs), this.#pool?.shutdown(graceMs)]);
    useSnapshotSource(null);
  }
}
