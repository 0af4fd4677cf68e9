/**
 * Idle memory return for one isolate's server (`server.memory_return`), with its metric and
 * log line.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { type ProxyServer, startMemoryReturn } from "../edge/mod.ts";
import { log, memoryReturns } from "../telemetry/mod.ts";

const MIB = 1024 * 1024;
/** Before the isolate has a plan. */
const OFF = { enabled: false, quiet_ms: 2000, min_growth_mib: 32 } as const;

/**
 * Starts giving memory back when `server` goes quiet after traffic; `trim` gives freed
 * C-library memory back (the process's `malloc_trim` in the first isolate, a request to the
 * first isolate in a worker; `null` where there is none). Returns how to stop.
 */
export function returnMemoryWhenQuiet(
  server: () => ProxyServer | undefined,
  config: () => Config | undefined,
  trim: (() => void) | null,
): () => void {
  return startMemoryReturn({
    requests: () => server()?.requestsStarted ?? 0,
    settings: () => config()?.server.memory_return ?? OFF,
    trim,
    returned(before, after) {
      memoryReturns.inc();
      log("info", "memory returned after traffic went quiet", {
        rss_before_mib: Math.round(before / MIB),
        rss_after_mib: Math.round(after / MIB),
        malloc_trim: trim !== null,
      });
    },
    failed(error) {
      log("warn", "memory return failed", { error: (error as Error).message });
    },
  });
}
