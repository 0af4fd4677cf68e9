/**
 * The systemd notification protocol (sd_notify(3)) without libsystemd: newline-separated
 * `KEY=VALUE` datagrams to the unix socket named by `NOTIFY_SOCKET` (a path, or `@name`
 * for the Linux abstract namespace). `READY=1` once the listeners are bound (`Type=notify`),
 * `WATCHDOG=1` every half `WATCHDOG_USEC` from the event loop (`WatchdogSec=`), `STATUS=`
 * after a reload, `STOPPING=1` when the drain begins.
 *
 * Deno offers unix datagram sockets as `Deno.listenDatagram({ transport: "unixpacket" })`
 * (`--unstable-net`). The sending socket is bound in the abstract namespace, so it needs no
 * file; sending to a socket file needs write permission on that path (the `sprox`
 * permission set allows `/run/systemd/notify`, systemd's own).
 * @module
 */
import { readEnv } from "../config/mod.ts";
import { log } from "../telemetry/mod.ts";

const encoder = new TextEncoder();

/**
 * The address `NOTIFY_SOCKET` names, as `Deno` wants it: `@name` is the abstract name
 * `\0name`; an absolute path is itself; anything else (`vsock:`) is not supported.
 *
 * @example
 * ```ts
 * notifyAddress("@/org/freedesktop/systemd1/notify"); // "\0/org/freedesktop/systemd1/notify"
 * ```
 */
export function notifyAddress(value: string): string | undefined {
  if (value.startsWith("@") && value.length > 1) return `\0${value.slice(1)}`;
  if (value.startsWith("/")) return value;
  return undefined;
}

/** Sends notifications to systemd (or whatever listens on `NOTIFY_SOCKET`). */
export class SystemdNotifier {
  #target: string;
  #socket: Deno.DatagramConn | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #watchdogMs: number | undefined;
  #failed = false;

  private constructor(target: string, watchdogMs: number | undefined) {
    this.#target = target;
    this.#watchdogMs = watchdogMs;
  }

  /**
   * The notifier of this process, when `NOTIFY_SOCKET` is set (under systemd
   * `Type=notify`); `undefined` otherwise.
   */
  static fromEnvironment(): SystemdNotifier | undefined {
    const socket = readEnv("NOTIFY_SOCKET");
    if (socket === undefined) return undefined;
    const target = notifyAddress(socket);
    if (target === undefined) {
      log("warn", "NOTIFY_SOCKET is neither a path nor @abstract; not notifying systemd", {
        notify_socket: socket,
      });
      return undefined;
    }
    const usec = Number(readEnv("WATCHDOG_USEC"));
    const watchdogMs = Number.isFinite(usec) && usec > 0 ? Math.max(1, usec / 2000) : undefined;
    return new SystemdNotifier(target, watchdogMs);
  }

  /** Sends one notification; a failure is logged once and never thrown. */
  async notify(message: string): Promise<void> {
    try {
      this.#socket ??= Deno.listenDatagram({
        transport: "unixpacket",
        // Abstract and unique: no file to create, clean up or be allowed to write.
        path: `\0sprox-notify-${Deno.pid}-${crypto.randomUUID()}`,
      });
      await this.#socket.send(encoder.encode(message), {
        transport: "unixpacket",
        path: this.#target,
      });
    } catch (error) {
      if (this.#failed) return;
      this.#failed = true;
      log("warn", "cannot notify systemd", {
        error: (error as Error).message,
        hint: error instanceof Deno.errors.NotCapable
          ? "the sandbox allows writes to /run/systemd/notify only; use NOTIFY_SOCKET=@name " +
            "or that path"
          : undefined,
      });
    }
  }

  /** `READY=1` with a status line, then the watchdog pings when systemd asked for them. */
  async ready(status: string): Promise<void> {
    await this.notify(`READY=1\nSTATUS=${status}\nMAINPID=${Deno.pid}`);
    if (this.#watchdogMs === undefined || this.#watchdog !== undefined) return;
    // Sent from the event loop: a loop that stops turning stops the pings.
    this.#watchdog = setInterval(() => void this.notify("WATCHDOG=1"), this.#watchdogMs);
    Deno.unrefTimer(this.#watchdog);
  }

  /** `STATUS=` (after a reload). */
  async status(status: string): Promise<void> {
    await this.notify(`STATUS=${status}`);
  }

  /** `STOPPING=1`; the watchdog stops with it. */
  async stopping(): Promise<void> {
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    await this.notify("STOPPING=1\nSTATUS=draining");
  }

  /** Closes the socket. */
  close(): void {
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    try {
      this.#socket?.close();
    } catch {
      // Already closed.
    }
    this.#socket = undefined;
  }
}
