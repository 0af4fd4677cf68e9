/**
 * `deno task compile`: builds `dist/sprox`, a self-contained binary that runs `main.ts`
 * under the `sprox` permission set of `deno.json` — the same sandbox `deno task start`,
 * `deno task sprox` and the tests use.
 *
 * `deno compile` needs `denort` (the Deno runtime without the CLI tools, of exactly the
 * running Deno's version). Deno downloads it on first use; `DENORT_BIN` points at a local
 * copy instead. When neither works, this script says what it needs and exits 1.
 *
 * Options (environment):
 * - `DENORT_BIN`: path of a `denort` binary of the running Deno version.
 * - `SPROX_INSTALL_DIR`: absolute directory that the permission set's relative entries
 *   (`./config`, `./var`, `./.env`) point to in the binary. `deno compile` resolves them
 *   against the directory holding `deno.json` and bakes the absolute result in, so a binary
 *   built in a checkout reads `<checkout>/config`. Set this to the directory the binary will
 *   run from (the container builds in `/app` and runs in `/app`, so it needs nothing).
 *
 * Usage: `deno task compile [--output <file>]`
 * @module
 */
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** A permission set as written under `permissions` in `deno.json`. */
export interface PermissionSet {
  readonly read?: boolean | readonly string[];
  readonly write?: boolean | readonly string[];
  readonly net?: boolean | readonly string[];
  readonly ffi?: boolean | readonly string[];
  readonly env?: boolean | readonly string[] | {
    readonly allow?: boolean | readonly string[];
    readonly ignore?: boolean | readonly string[];
  };
}

const KNOWN_KEYS = new Set(["read", "write", "net", "ffi", "env"]);

function resolveEntry(entry: string, baseDir: string): string {
  if (entry.startsWith("/")) return entry;
  const relative = entry.replace(/^\.\//, "").replace(/\/+$/, "");
  return relative === "." || relative === "" ? baseDir : `${baseDir}/${relative}`;
}

function flag(
  name: string,
  value: boolean | readonly string[] | undefined,
  map: (s: string) => string = (s) => s,
): string[] {
  if (value === undefined || value === false) return [];
  if (value === true) return [`--${name}`];
  return value.length === 0 ? [] : [`--${name}=${value.map(map).join(",")}`];
}

/**
 * Translates a `deno.json` permission set into `deno compile` flags, resolving relative
 * paths against `baseDir` (what `-P=<set>` does against the directory of `deno.json`).
 * Throws on a key it does not know, so a permission added to the set is never dropped.
 *
 * @example
 * ```ts
 * permissionFlags({ read: ["./config", "/etc/sprox"] }, "/app");
 * // ["--allow-read=/app/config,/etc/sprox"]
 * ```
 */
export function permissionFlags(set: PermissionSet, baseDir: string): string[] {
  const unknown = Object.keys(set).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) {
    throw new Error(`permission set: cannot translate key(s) ${unknown.join(", ")}`);
  }
  const path = (s: string) => resolveEntry(s, baseDir);
  const env = set.env;
  const envAllow = typeof env === "object" && !Array.isArray(env)
    ? (env as { allow?: boolean | readonly string[] }).allow
    : env as boolean | readonly string[] | undefined;
  const envIgnore = typeof env === "object" && !Array.isArray(env)
    ? (env as { ignore?: boolean | readonly string[] }).ignore
    : undefined;
  return [
    ...flag("allow-read", set.read, path),
    ...flag("allow-write", set.write, path),
    ...flag("allow-net", set.net),
    ...flag("allow-ffi", set.ffi, path),
    ...flag("allow-env", envAllow),
    ...flag("ignore-env", envIgnore),
  ];
}

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** The binary to write. */
  readonly output: string;
  /** Where relative permission entries point in the binary; the checkout when absent. */
  readonly installDir?: string;
  /** The `sprox` permission set (needed only with `installDir`). */
  readonly permissions?: PermissionSet;
  /** Directories left out of the embedded npm packages. */
  readonly excludes?: readonly string[];
}

/**
 * The `deno compile` argument list. Without an install directory the binary is built with
 * `-P=sprox` itself; with one, with the same set translated to flags re-based there.
 * `--no-prompt` makes a missing permission an error instead of a terminal prompt.
 */
export function compileArgs(options: CompileOptions): string[] {
  let permissions = ["-P=sprox"];
  if (options.installDir !== undefined) {
    if (!options.installDir.startsWith("/")) {
      throw new Error(
        `SPROX_INSTALL_DIR must be an absolute path: current value is "${options.installDir}"`,
      );
    }
    if (!options.permissions) throw new Error("the sprox permission set is missing");
    permissions = permissionFlags(options.permissions, options.installDir.replace(/\/+$/, ""));
  }
  return [
    "compile",
    "--no-prompt",
    ...permissions,
    ...(options.excludes ?? []).map((dir) => `--exclude=${dir}`),
    // Loaded with `new Worker(...)` (server.workers), so not found by following imports.
    `--include=${ROOT}/src/cli/worker.ts`,
    "--output",
    options.output,
    `${ROOT}/main.ts`,
  ];
}

/** What `deno compile` needs, and how to get it, when `denort` is missing. */
export function denortHelp(reason: string): string {
  const version = Deno.version.deno;
  const target = Deno.build.target;
  const zip = `denort-${target}.zip`;
  return [
    `sprox compile: deno compile needs denort ${version} for ${target} and could not get it:`,
    `  ${reason}`,
    "",
    "denort is the Deno runtime without the CLI tools; deno compile copies it into the binary.",
    "Get it one of these ways, then run the task again:",
    "  1. on a host that can reach dl.deno.land, `deno task compile` downloads it by itself;",
    "  2. download it elsewhere and point DENORT_BIN at it:",
    `       https://dl.deno.land/release/v${version}/${zip}`,
    `       (or the ${zip} asset of the v${version} release of denoland/deno on GitHub)`,
    `       unzip ${zip} && chmod +x denort`,
    "       DENORT_BIN=$PWD/denort deno task compile",
    "  3. build the container image (docker build -t sprox:local .): its builder stage",
    "     runs this task with network access.",
    `The version must match \`deno --version\` (${version}) exactly.`,
  ].join("\n");
}

/** Checks `DENORT_BIN`; returns a problem description, or undefined when usable. */
export function checkDenortBin(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return `DENORT_BIN="${path}" is not a regular file`;
    if (info.mode !== null && (info.mode & 0o111) === 0) {
      return `DENORT_BIN="${path}" is not executable (chmod +x it)`;
    }
    return undefined;
  } catch (error) {
    return `DENORT_BIN="${path}" cannot be used: ${(error as Error).message}`;
  }
}

/**
 * Package-root `test/` directories of the npm packages the binary embeds. They are never
 * loaded at run time, and one of them (a 2 MB file of numbers in `bintrees`) overflows the
 * compiler's stack when it is parsed, so they are left out.
 */
export async function npmTestDirs(): Promise<string[]> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stderr: "null" })
      .output();
    return out.success ? JSON.parse(new TextDecoder().decode(out.stdout)) : {};
  };
  const cache = (await run(["info", "--json"])).npmCache as string | undefined;
  const packages = Object.keys((await run(["info", "--json", "main.ts"])).npmPackages ?? {});
  if (!cache) return [];
  const registries: string[] = [];
  try {
    for (const entry of Deno.readDirSync(cache)) if (entry.isDirectory) registries.push(entry.name);
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const id of packages) {
    const at = id.lastIndexOf("@");
    const [name, version] = [id.slice(0, at), id.slice(at + 1)];
    for (const registry of registries) {
      for (const sub of ["test", "tests"]) {
        const dir = `${cache}/${registry}/${name}/${version}/${sub}`;
        try {
          if (Deno.statSync(dir).isDirectory) dirs.push(dir);
        } catch {
          // Not there: nothing to leave out.
        }
      }
    }
  }
  return dirs;
}

/** The informative lines of a `deno compile` error chain ("Caused by: 0: … 1: …"). */
export function failureReason(stderr: string): string {
  // deno-lint-ignore no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim());
  const causes = lines.map((l) => /^\d+: (.*)$/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && !c.includes("<unknown>"));
  const picked = [causes.find((c) => /url|denort/i.test(c)), causes.at(-1)]
    .filter((c): c is string => c !== undefined);
  const unique = picked.filter((c, i) => !picked.some((o, j) => j < i && o.includes(c)));
  return unique.length > 0
    ? unique.join(": ")
    : lines.find((l) => l.startsWith("error:")) ?? "deno compile failed";
}

const DENORT_FAILURE = /denort|dl\.deno\.land|base binary/i;

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { output: { type: "string", short: "o" } },
  });
  // `deno task` runs in the project directory; a relative --output is meant from where the
  // task was invoked (INIT_CWD).
  const invokedFrom = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const output = values.output === undefined
    ? `${ROOT}/dist/sprox`
    : values.output.startsWith("/")
    ? values.output
    : `${invokedFrom}/${values.output}`;
  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin) {
    const problem = checkDenortBin(denortBin);
    if (problem) {
      console.error(denortHelp(problem));
      return 1;
    }
  }
  const installDir = Deno.env.get("SPROX_INSTALL_DIR") || undefined;
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const permissions = config.permissions?.sprox as PermissionSet | undefined;
  if (!permissions) {
    console.error("sprox compile: deno.json has no `sprox` permission set");
    return 1;
  }
  // Resolve the npm packages first, so the excluded directories exist in the cache.
  await new Deno.Command(Deno.execPath(), { args: ["install"], cwd: ROOT }).output();
  const argv = compileArgs({ output, installDir, permissions, excludes: await npmTestDirs() });
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || "/", { recursive: true });
  console.error(`$ deno ${argv.join(" ")}`);
  const result = await new Deno.Command(Deno.execPath(), {
    args: argv,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    if (DENORT_FAILURE.test(stderr)) {
      console.error(denortHelp(failureReason(stderr)));
    } else {
      console.error(stderr);
    }
    return 1;
  }
  console.error(stderr.trimEnd());
  console.error(`built ${output}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
