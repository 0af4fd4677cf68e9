/**
 * Test support: start the real `sprox` process (the same entry point and permission set
 * that ship) on loopback ports, and read its JSON log lines.
 * @module
 */

import { withTimeout } from "./timeout.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The repository root (absolute, with a trailing slash). */
export const REPO_ROOT: string = ROOT;

/** Ports this process has handed out: the kernel may offer a just-closed port again. */
const handedOut = new Set<number>();

/**
 * Where test ports come from: below the kernel's ephemeral range. Ports from that range
 * (`port: 0`) are also the source ports of outgoing connections, so one that was free a
 * moment ago could be a connection's by the time sProx binds it (seen in parallel runs).
 */
const PORT_POOL: readonly [number, number] = (() => {
  let low = 32768;
  try {
    const [first] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim()
      .split(/\s+/).map(Number);
    if (Number.isInteger(first) && first > 0) low = first;
  } catch {
    // Not Linux, or not readable: the usual default.
  }
  return low > 12_000 ? [10_000, low] : [low, low];
})();

/**
 * A port that was free a moment ago on 127.0.0.1, outside the ephemeral range when there is
 * room below it, and that no earlier call in this process returned (two listeners of one test
 * never get the same port).
 */
export function freePort(): number {
  const [low, high] = PORT_POOL;
  for (let attempt = 0; attempt < 64; attempt++) {
    // No room below the range: the kernel picks (port 0), as before.
    const port = high > low ? low + Math.floor(Math.random() * (high - low)) : 0;
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: "127.0.0.1", port });
    } catch {
      continue; // In use: another pick.
    }
    const bound = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (handedOut.has(bound)) continue;
    handedOut.add(bound);
    return bound;
  }
  throw new Error("no fresh free port after 64 attempts");
}

/**
 * A scratch directory under `var/test/` (inside the sandbox's read permission), removed by
 * the returned cleanup.
 */
export async function scratchDir(): Promise<string> {
  const dir = `${ROOT}var/test/${crypto.randomUUID()}`;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** Runs the CLI to completion (`deno run -P=sprox main.ts ...args`). */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  // A CLI run that hangs is killed (exit 143) and so fails the test that expected it to end.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "-P=sprox", `${ROOT}main.ts`, ...args],
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** A running sprox process. */
export interface SproxProcess {
  readonly pid: number;
  readonly configPath: string;
  /** Every JSON log line so far. */
  readonly logs: LogLine[];
  /** Raw stderr so far. */
  stderr(): string;
  /** Resolves with the first log line (now or later) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal. */
  kill(signal: Deno.Signal): void;
  /**
   * SIGTERM, then waits for exit (by default the 10 s shutdown grace plus 10 s); returns the
   * exit code, or SIGKILLs and throws when the process does not exit in time.
   */
  stop(timeoutMs?: number): Promise<number>;
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * Writes `yaml` as `routes.yaml` in a scratch dir and starts `sprox serve -c <dir>`; resolves
 * once every listener logged "listening" (or rejects with the process output).
 */
export async function startSprox(
  yaml: string,
  options: {
    env?: Record<string, string>;
    dir?: string;
    expectListeners?: number;
    maxOpenFiles?: number;
  } = {},
): Promise<SproxProcess> {
  const dir = options.dir ?? await scratchDir();
  const configPath = `${dir}/routes.yaml`;
  await Deno.writeTextFile(configPath, yaml);
  const sproxArgs = ["run", "-q", "-P=sprox", `${ROOT}main.ts`, "serve", "-c", dir];
  // `maxOpenFiles` runs the process under `ulimit -n` (descriptor exhaustion tests).
  const child = new Deno.Command(options.maxOpenFiles ? "bash" : Deno.execPath(), {
    args: options.maxOpenFiles
      ? ["-c", `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`, Deno.execPath(), ...sproxArgs]
      : sproxArgs,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: LogLine[] = [];
  const waiters: { predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let stderrText = "";
  const pump = async () => {
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const line = JSON.parse(text) as LogLine;
          logs.push(line);
          for (const w of [...waiters]) {
            if (w.predicate(line)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(line);
            }
          }
        } catch {
          // Not JSON: ignore.
        }
      }
    }
  };
  const pumping = pump();
  const errPumping = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderrText += chunk;
    }
  })();
  const status = child.status.then(async (s) => {
    await Promise.allSettled([pumping, errPumping]);
    return s;
  });

  const waitForLog = (predicate: (l: LogLine) => boolean, timeoutMs = 15000) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(entry), 1);
        reject(new Error(`timed out waiting for log line; stderr:\n${stderrText}`));
      }, timeoutMs);
      const entry = {
        predicate,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(entry);
    });
  };

  const proc: SproxProcess = {
    pid: child.pid,
    configPath,
    logs,
    stderr: () => stderrText,
    waitForLog,
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch {
        // Already exited.
      }
    },
    stop: async (timeoutMs = 20_000) => {
      proc.kill("SIGTERM");
      try {
        return (await withTimeout(status, timeoutMs, "sprox to exit after SIGTERM")).code;
      } catch (error) {
        proc.kill("SIGKILL");
        await status;
        throw error;
      }
    },
    status,
  };
  let started: boolean;
  try {
    started = await Promise.race([
      waitForLog((l) => l.msg === "sprox started", 30000).then(() => true),
      status.then(() => false),
    ]);
  } catch (error) {
    // Never started: do not leave the process behind.
    proc.kill("SIGKILL");
    await status;
    throw error;
  }
  if (!started) {
    throw new Error(`sprox exited before starting:\n${stderrText}\n${JSON.stringify(logs)}`);
  }
  return proc;
}

/** `sprox_cache_requests_total` by outcome, from the `/metrics` of a sProx listener. */
export async function cacheOutcomes(port: number): Promise<Record<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  const outcomes: Record<string, number> = {};
  for (const m of text.matchAll(/^sprox_cache_requests_total\{outcome="(\w+)"\} (\d+)/gm)) {
    outcomes[m[1]] = Number(m[2]);
  }
  return outcomes;
}
