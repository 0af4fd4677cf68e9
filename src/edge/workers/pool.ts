/**
 * The worker isolates of `server.workers`, seen from the first isolate: started with the
 * configuration and the ports the first isolate bound, reloaded in two phases (every
 * isolate prepares, then all commit or all abort), drained together, and restarted if one
 * ever dies.
 * @module
 */
import type { LoadedConfig } from "../../config/mod.ts";
import { log } from "../../telemetry/mod.ts";
import { Channel, type MessageEnd } from "./channel.ts";

/** What the first isolate answers for its workers. */
export interface HostServices {
  /** Requests from workers, by kind (metrics, rate-limit buckets, ...). */
  readonly requests: Readonly<Record<string, (payload: unknown) => unknown>>;
  /** One-way notes from workers, by kind (log lines, ...). */
  readonly notes: Readonly<Record<string, (payload: unknown) => void>>;
}

/** How a pool starts. */
export interface WorkerPoolOptions {
  /** The module a worker isolate runs (it calls `runWorkerIsolate`). */
  readonly module: URL;
  /** How many worker isolates beside the first. */
  readonly count: number;
  readonly loaded: LoadedConfig;
  /** The ports the first isolate bound, by listener key. */
  readonly ports: ReadonlyMap<string, number>;
  readonly services: HostServices;
  /** How long a worker may take to start or to prepare a reload (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Called when a worker that replaced a failed one has started: it is sent what the first
   * isolate copied to the others since the start (runtime keys).
   */
  readonly restarted?: (send: (kind: string, payload: unknown) => void) => void;
}

/** What the first isolate knows of one worker. */
export interface WorkerStatus {
  /** 1-based: isolate 0 is the first isolate. */
  readonly index: number;
  readonly hash: string;
  readonly restarts: number;
}

/** What a worker answers when asked for its status. */
interface StatusReply {
  readonly hash: string;
}

interface Member {
  readonly index: number;
  worker: Worker;
  channel: Channel;
  hash: string;
  restarts: number;
  /** Set once the pool stops: a dying worker is not restarted. */
  stopping: boolean;
}

const RESTART_DELAY_MS = 1000;

/**
 * The worker isolates of this process.
 *
 * @example
 * ```ts
 * const pool = await WorkerPool.start({ module, count: 3, loaded, ports, services });
 * await pool.shutdown(10_000);
 * ```
 */
export class WorkerPool {
  #options: WorkerPoolOptions;
  #members: Member[] = [];
  #loaded: LoadedConfig;
  #ports: ReadonlyMap<string, number>;
  #timeoutMs: number;
  #stopped = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#loaded = options.loaded;
    this.#ports = options.ports;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Starts `count` workers; throws (having stopped them) if one cannot start. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(
        Array.from({ length: options.count }, (_, i) => pool.#spawn(i + 1, 0)),
      );
    } catch (error) {
      await pool.shutdown(0);
      throw error;
    }
    return pool;
  }

  /** The status of every worker. */
  status(): WorkerStatus[] {
    return this.#members.map((m) => ({ index: m.index, hash: m.hash, restarts: m.restarts }));
  }

  async #spawn(index: number, restarts: number): Promise<Member> {
    const worker = new Worker(this.#options.module, { type: "module", name: `sprox-${index}` });
    const channel = new Channel(worker as unknown as MessageEnd);
    const member: Member = { index, worker, channel, hash: "", restarts, stopping: false };
    for (const [kind, handler] of Object.entries(this.#options.services.requests)) {
      channel.handle(kind, handler);
    }
    for (const [kind, handler] of Object.entries(this.#options.services.notes)) {
      channel.on(kind, handler);
    }
    worker.addEventListener("error", (event) => {
      // An uncaught error ends that isolate, never the process: it is replaced.
      event.preventDefault();
      this.#lost(member, event.message ?? String(event.error));
    });
    worker.addEventListener("messageerror", (event) => event.preventDefault());
    const existing = this.#members.findIndex((m) => m.index === index);
    if (existing >= 0) this.#members[existing] = member;
    else this.#members.push(member);
    let reply: StatusReply;
    try {
      reply = await channel.request<StatusReply>(
        "start",
        { index, loaded: this.#loaded, ports: this.#ports },
        this.#timeoutMs,
      );
    } catch (error) {
      // A replacement that cannot start is replaced in turn: left in place unstarted, it
      // would fail every later reload.
      if (restarts > 0) this.#lost(member, (error as Error).message);
      throw error;
    }
    member.hash = reply.hash;
    if (restarts > 0) this.#options.restarted?.((kind, payload) => channel.notify(kind, payload));
    return member;
  }

  #lost(member: Member, reason: string): void {
    if (member.stopping || this.#stopped) return;
    member.stopping = true;
    member.channel.close();
    member.worker.terminate();
    log("error", "worker isolate failed; restarting it", { worker: member.index, error: reason });
    setTimeout(() => {
      if (this.#stopped) return;
      this.#spawn(member.index, member.restarts + 1).catch((error) =>
        log("error", "worker isolate could not restart", {
          worker: member.index,
          error: (error as Error).message,
        })
      );
    }, RESTART_DELAY_MS);
  }

  /**
   * Prepares a reload in every worker (on `ports`, the first isolate's). Resolves when all
   * are ready; if one fails, the others abort and the error is thrown.
   */
  async prepare(
    loaded: LoadedConfig,
    ports: ReadonlyMap<string, number>,
  ): Promise<{ commit(): Promise<void>; abort(): Promise<void> }> {
    const members = [...this.#members];
    const results = await Promise.allSettled(
      members.map((m) => m.channel.request("prepare", { loaded, ports }, this.#timeoutMs)),
    );
    const prepared = members.filter((_, i) => results[i].status === "fulfilled");
    const abort = async () => {
      await Promise.allSettled(
        prepared.map((m) => m.channel.request("abort", null, this.#timeoutMs)),
      );
    };
    const failed = results.find((r) => r.status === "rejected");
    if (failed) {
      await abort();
      const index = members[results.indexOf(failed)].index;
      throw new Error(
        `worker ${index}: ${(failed.reason as Error)?.message ?? String(failed.reason)}`,
      );
    }
    return {
      commit: async () => {
        this.#loaded = loaded;
        this.#ports = ports;
        const outcomes = await Promise.allSettled(
          prepared.map(async (m) => {
            m.hash = await m.channel.request<string>("commit", null, this.#timeoutMs);
          }),
        );
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome.status === "rejected") {
            this.#lost(prepared[i], `commit failed: ${String(outcome.reason)}`);
          }
        }
      },
      abort,
    };
  }

  /** Sends a note to every worker. */
  broadcast(kind: string, payload: unknown): void {
    for (const m of this.#members) m.channel.notify(kind, payload);
  }

  /** Asks every worker; the answers of those that answered in time, in worker order. */
  async collect<T>(kind: string, timeoutMs = 5000): Promise<T[]> {
    const results = await Promise.allSettled(
      this.#members.map((m) => m.channel.request<T>(kind, null, timeoutMs)),
    );
    return results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  }

  /** Drains every worker for up to `graceMs`, then ends them. */
  async shutdown(graceMs: number): Promise<void> {
    this.#stopped = true;
    const members = [...this.#members];
    for (const m of members) m.stopping = true;
    await Promise.allSettled(
      members.map((m) => m.channel.request("shutdown", { graceMs }, graceMs + 5000)),
    );
    for (const m of members) {
      m.channel.close();
      m.worker.terminate();
    }
  }
}
