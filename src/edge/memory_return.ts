/**
 * Idle memory return (`server.memory_return`): once no request has started for `quiet_ms`
 * after a period of traffic, and the process grew by at least `min_growth_mib` since the last
 * return, the isolate runs a full garbage collection and the process asks glibc to give its
 * freed pages back to the system (`malloc_trim(0)`).
 *
 * Under load neither the V8 heap nor glibc's arenas shrink by themselves: V8 grows its old
 * generation with the allocation rate and keeps the pages until a later collection, and glibc
 * keeps freed chunks in its per-thread arenas. Without this, the resident size stays at the
 * peak of the last burst.
 *
 * `malloc_trim` is reached through the runtime's FFI, bound once at start to the system's C
 * library (the only paths the permission set lists); the FFI permission is revoked right
 * after, before anything is served, so no library can be opened afterwards.
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";

/** Where glibc's `libc.so.6` lives on the systems sProx ships for (Debian layout first). */
export const LIBC_PATHS: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
];

/**
 * Binds glibc's `malloc_trim` (the first listed C library the permission set allows and that
 * loads), then revokes the FFI permission for the whole process. `null` when none loads
 * (another C library, another OS, no permission): memory return then collects garbage only.
 */
export function bindMallocTrim(paths: readonly string[] = LIBC_PATHS): (() => void) | null {
  let trim: (() => void) | null = null;
  try {
    if (Deno.build.os === "linux") {
      for (const path of paths) {
        if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
        try {
          const library = Deno.dlopen(path, {
            malloc_trim: { parameters: ["usize"], result: "i32" },
          });
          trim = () => void library.symbols.malloc_trim(0n);
          break;
        } catch {
          // Not a glibc at this path (or not loadable): try the next one.
        }
      }
    }
  } finally {
    Deno.permissions.revokeSync({ name: "ffi" });
  }
  return trim;
}

let collector: (() => void) | undefined;

/**
 * A full garbage collection of this isolate. V8 exposes `gc` to contexts created after the
 * flag is set; the function is taken once from such a context.
 */
export function collectGarbage(): void {
  if (collector === undefined) {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("typeof gc === 'function' ? gc : undefined");
    collector = typeof gc === "function" ? gc as () => void : () => {};
  }
  collector();
}

/** The `server.memory_return` settings. */
export interface MemoryReturnSettings {
  readonly enabled: boolean;
  readonly quiet_ms: number;
  readonly min_growth_mib: number;
}

/** What {@linkcode MemoryReturn} reads and calls (the runtime's, or a test's). */
export interface MemoryReturnHooks {
  /** Requests started so far by this isolate. */
  requests(): number;
  /** The current settings (read on every tick, so a reload applies). */
  settings(): MemoryReturnSettings;
  /** The process's resident size, in bytes. */
  rss(): number;
  /** A full collection of this isolate's heap. */
  collect(): void;
  /** Gives freed C-library memory back to the system; `null` where it cannot. */
  trim: (() => void) | null;
  now(): number;
  /** Told after each return, with the resident size before and after (bytes). */
  returned(before: number, after: number): void;
}

const MIB = 1024 * 1024;

/**
 * Decides, tick by tick, when memory is given back: after traffic, once no request has started
 * for `quiet_ms`, if the resident size grew by `min_growth_mib` since the last return (or the
 * start; `0`: after every quiet period). Ticks cost a counter comparison.
 *
 * @example
 * ```ts
 * const memory = new MemoryReturn({ ...hooks });
 * setInterval(() => memory.tick(), 500);
 * ```
 */
export class MemoryReturn {
  readonly #hooks: MemoryReturnHooks;
  #seen: number;
  #lastActive: number;
  #busy = false;
  #baseline: number;

  constructor(hooks: MemoryReturnHooks) {
    this.#hooks = hooks;
    this.#seen = hooks.requests();
    this.#lastActive = hooks.now();
    this.#baseline = hooks.rss();
  }

  /** One look at the isolate; `true` when it gave memory back. */
  tick(): boolean {
    const hooks = this.#hooks;
    const settings = hooks.settings();
    const count = hooks.requests();
    const now = hooks.now();
    if (count !== this.#seen) {
      this.#seen = count;
      this.#lastActive = now;
      this.#busy = true;
      return false;
    }
    if (!settings.enabled || !this.#busy || now - this.#lastActive < settings.quiet_ms) {
      return false;
    }
    this.#busy = false;
    const before = hooks.rss();
    const growth = settings.min_growth_mib * MIB;
    if (growth > 0 && before - this.#baseline < growth) return false;
    hooks.collect();
    hooks.trim?.();
    const after = hooks.rss();
    this.#baseline = after;
    hooks.returned(before, after);
    return true;
  }
}

/** How often a running {@linkcode MemoryReturn} looks (ms). */
export const MEMORY_RETURN_TICK_MS = 250;

/**
 * Runs {@linkcode MemoryReturn} on a timer that does not keep the process alive; returns how to
 * stop it.
 */
export function startMemoryReturn(
  hooks: Omit<MemoryReturnHooks, "rss" | "collect" | "now"> & {
    rss?: () => number;
    failed?: (error: unknown) => void;
  },
): () => void {
  const memory = new MemoryReturn({
    rss: () => Deno.memoryUsage().rss,
    collect: collectGarbage,
    now: () => performance.now(),
    ...hooks,
  });
  const timer = setInterval(() => {
    try {
      memory.tick();
    } catch (error) {
      // A failed return leaves memory where it was; it never stops the process.
      hooks.failed?.(error);
    }
  }, MEMORY_RETURN_TICK_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
