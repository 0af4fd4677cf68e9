/**
 * Load tools driven by the bench (Debian's curl, wrk, h2load) and the parsing of their output.
 * @module
 */

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** One measured figure set. */
export type Figures = Record<string, number>;

/** Single-stream download with curl: MB/s and the byte count (checked by the caller). */
export async function curlDownload(url: string): Promise<Figures> {
  const text = await run("curl", [
    "-sk",
    "-o",
    "/dev/null",
    "-w",
    "%{speed_download} %{size_download} %{http_code}",
    url,
  ]);
  const [speed, size, code] = text.trim().split(/\s+/).map(Number);
  if (code !== 200) throw new Error(`${url} answered ${code}`);
  return { mbps: speed / 1e6, bytes: size };
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

/**
 * wrk with latency percentiles: req/s, MB/s, p50 and p99 in ms, the error count and the
 * number of requests completed. `script` is a Lua file that chooses each request.
 */
export async function wrk(
  url: string,
  options: {
    connections: number;
    seconds: number;
    headers?: string[];
    script?: string;
    /** wrk's per-request timeout (its default, 2 s, is short for 256 transfers of 2 MiB). */
    timeoutSeconds?: number;
  },
): Promise<Figures> {
  const args = [
    `-t${Math.min(2, options.connections)}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    ...(options.timeoutSeconds ? [`--timeout`, `${options.timeoutSeconds}s`] : []),
    "--latency",
    ...(options.headers ?? []).flatMap((h) => ["-H", h]),
    ...(options.script ? ["-s", options.script] : []),
    url,
  ];
  const text = await run("wrk", args);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(text);
  const scale: Record<string, number> = { B: 1e-6, KB: 1.024e-3, MB: 1.048576, GB: 1073.741824 };
  const mbps = transfer ? Number(transfer[1]) * (scale[transfer[2]] ?? NaN) : NaN;
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(text);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const socketErrors = /Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)/.exec(text);
  const errorCount = Number(errors?.[1] ?? 0) +
    (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  return { rps, mbps, p50: pct("50"), p99: pct("99"), errors: errorCount, requests };
}

/** h2load: one connection, many concurrent streams. */
export async function h2load(
  url: string,
  options: { requests: number; streams: number },
): Promise<Figures> {
  const text = await run("h2load", [
    "-c1",
    `-m${options.streams}`,
    `-n${options.requests}`,
    url,
  ]);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const mbps = /req\/s, ([\d.]+)(\w+)B\/s/.exec(text);
  const scale: Record<string, number> = { "": 1e-6, K: 1.024e-3, M: 1.048576, G: 1073.741824 };
  const failed = Number(/(\d+) failed/.exec(text)?.[1] ?? NaN);
  const mean = /time for request:\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/.exec(text);
  return {
    rps,
    mbps: mbps ? Number(mbps[1]) * (scale[mbps[2]] ?? NaN) : NaN,
    mean_ms: mean ? toMs(mean[1], mean[2]) : NaN,
    errors: failed,
  };
}

/** The pids of a process's children (nginx's worker), or none. */
function childrenOf(pid: number): number[] {
  try {
    const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    return children ? children.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

function ownRssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** A process's resident set size now (MiB), its children's included; `NaN` when it is gone. */
export function rssMiB(pid: number): number {
  return childrenOf(pid).reduce((sum, child) => sum + (ownRssMiB(child) || 0), ownRssMiB(pid));
}

/** Samples a process's resident set size (MiB, children included) every 100 ms until stopped. */
export function sampleRss(pid: number): { stop(): { min: number; max: number } } {
  const samples: number[] = [];
  const read = () => {
    const mib = rssMiB(pid);
    if (mib) samples.push(mib);
  };
  read();
  const timer = setInterval(read, 100);
  return {
    stop() {
      clearInterval(timer);
      read();
      return { min: Math.min(...samples), max: Math.max(...samples) };
    },
  };
}

/** CPU time (user + system) a process and its threads used so far, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The CPU of a peer: its own process, plus its children (nginx's worker). */
export function peerCpuMs(pid: number): number {
  return childrenOf(pid).reduce((sum, child) => sum + cpuMs(child), cpuMs(pid));
}

/** The median of a list. */
export function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
