/**
 * What the edge needs of a compiled configuration, and how it is handed its applications.
 * The edge sits below the application layer: `app/` satisfies these interfaces and the
 * command line passes them in, so nothing here imports `app/`.
 * @module
 */
import type { Config, LoadedConfig } from "../config/mod.ts";
import type { ConnectionState } from "./connection.ts";

/** One listening address and what it serves. */
export interface ListenerPlan {
  /** `host:port`. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly tls: {
    readonly enabled: boolean;
    readonly certificatePath: string | null;
    readonly privateKeyPath: string | null;
    readonly watchForChanges: boolean;
    /** Per-hostname certificates chosen by SNI (`listen.tls.certificates`). */
    readonly certificates: readonly {
      readonly serverNames: readonly string[];
      readonly certificatePath: string;
      readonly privateKeyPath: string;
    }[];
  };
  readonly maxConcurrentRequests: number | null;
  /** The `Strict-Transport-Security` value of a TLS listener with `tls.hsts`, else `null`. */
  readonly hsts: string | null;
  /** HTTP/3 on the same port (`listen.http3`, TLS listeners only). */
  readonly http3: boolean;
  /** Ids of the routes on this listener. */
  readonly routeIds: readonly string[];
}

/** The part of a compiled plan the edge reads. */
export interface EdgePlan {
  readonly hash: string;
  readonly config: Config;
  readonly listeners: ReadonlyMap<string, ListenerPlan>;
  /**
   * Background work of the plan that runs while it serves (active health checks, the shared
   * key tier's write-backs): started when the plan is put in place, stopped when replaced.
   */
  readonly background: { activate(): void; deactivate(): void };
  /** Releases what the plan holds (HTTP clients, timers). */
  dispose(): void;
}

/** What the application reads of the server's own state (`/ready` during a drain). */
export interface ServerState {
  readonly draining: boolean;
}

/** Answers one request of a listener. */
export type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  connection: ConnectionState,
) => Response | Promise<Response>;

/** The applications the edge serves: how a plan is compiled and how a listener answers. */
export interface Apps<P extends EdgePlan> {
  /** Loads what compiling `loaded` needs first (libraries only some configurations use). */
  load?(loaded: LoadedConfig): Promise<void>;
  /** Compiles a loaded configuration; `previous` is the plan a reload replaces. */
  compile(loaded: LoadedConfig, previous?: P): P;
  /** The handler of `listener` under `plan`. */
  handler(plan: P, listener: ListenerPlan, state: ServerState): Handler;
}
