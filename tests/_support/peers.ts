/**
 * The real programs the tests talk to (ffmpeg, nginx, microsocks, chromium, ...). A missing
 * one fails the test that needs it, with a message saying how to get it: CI installs them
 * all (`scripts/install-test-deps.sh`), and a skipped test would hide a broken feature.
 * @module
 */

const DIRECTORIES = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The absolute path of executable `name` on PATH (or the usual sbin/bin directories). */
export async function findPeer(name: string): Promise<string | undefined> {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const dir of [...path, ...DIRECTORIES]) {
    try {
      const info = await Deno.stat(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Resolves with the path of `name`, or throws naming the program and how to install it.
 *
 * @example
 * ```ts
 * await requirePeer("chromium");
 * ```
 */
export async function requirePeer(name: string): Promise<string> {
  const found = await findPeer(name);
  if (found === undefined) {
    throw new Error(
      `${name} is not installed, and this test needs it: run scripts/install-test-deps.sh`,
    );
  }
  return found;
}
