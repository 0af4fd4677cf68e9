/**
 * Certificate file watching for TLS listeners with `watch_for_changes`.
 *
 * A TLS listening socket carries its certificate, so a change is applied by binding a new
 * socket on the same port with `SO_REUSEPORT` (`--unstable-net`) carrying the new
 * certificate and closing the old listening socket (see `server.ts`): new handshakes get the
 * new certificate; established connections are not touched. A pair the runtime rejects
 * (unparsable, mismatched) keeps the old socket and is logged.
 *
 * Files are polled (stat every {@linkcode CERT_POLL_MS}) rather than watched with inotify,
 * because renewal tools usually replace files by rename, which ends an inotify watch. A
 * change is applied once the files have been stable for one poll, so a half-written pair
 * is not tried.
 * @module
 */

/** Poll interval: a change is applied within two intervals plus a bind. */
export const CERT_POLL_MS = 400;

/** Identity of the current content of the certificate and key files. */
async function signature(paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const path of paths) {
    try {
      const info = await Deno.stat(path);
      parts.push(`${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`);
    } catch {
      parts.push("missing");
    }
  }
  return parts.join("|");
}

/** A running watch; `stop()` ends it. */
export interface CertWatch {
  stop(): void;
}

/**
 * Calls `onChange` when the files at `paths` change and then stay unchanged for one poll.
 *
 * @example
 * ```ts
 * const watch = await watchCertificateFiles(["cert.pem", "key.pem"], () => rebind());
 * watch.stop();
 * ```
 */
export async function watchCertificateFiles(
  paths: readonly string[],
  onChange: () => Promise<void>,
): Promise<CertWatch> {
  let applied = await signature(paths);
  let seen = applied;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (stopped) return;
    const now = await signature(paths);
    if (now !== applied && now === seen && !now.includes("missing")) {
      applied = now;
      await onChange().catch(() => {});
    }
    seen = now;
    if (!stopped) timer = setTimeout(tick, CERT_POLL_MS);
  };
  timer = setTimeout(tick, CERT_POLL_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
