/**
 * `deno task compile`: the binary gets the `sprox` permission set, and a missing `denort`
 * is explained rather than reported as a stack of errors.
 */
import assert from "node:assert/strict";
import {
  checkDenortBin,
  compileArgs,
  failureReason,
  permissionFlags,
  type PermissionSet,
} from "../scripts/compile.ts";
import { LIBC_PATHS } from "../src/edge/memory_return.ts";
import { REPO_ROOT, scratchDir } from "./_support/mod.ts";

const CONFIG = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`));
const SET = CONFIG.permissions.sprox as PermissionSet;

Deno.test("tasks start, sprox and compile share the sprox set and never prompt", () => {
  // `-q`: no "permissions in the config file are experimental" warning on every command;
  // `start` names no file, so SPROX_CONFIG (else config/routes.yaml) decides.
  assert.match(CONFIG.tasks.start, /^deno run -q --no-prompt -P=sprox main\.ts serve$/);
  assert.match(CONFIG.tasks.sprox, /^deno run -q --no-prompt -P=sprox main\.ts$/);
  assert.match(CONFIG.tasks.compile, /scripts\/compile\.ts$/);
  const args = compileArgs({ output: "/tmp/out" });
  assert.deepEqual(args.slice(0, 3), ["compile", "--no-prompt", "-P=sprox"]);
  assert.equal(args.at(-1), `${REPO_ROOT}main.ts`);
  assert.ok(args.includes(`--include=${REPO_ROOT}src/cli/worker.ts`), args.join(" "));
});

Deno.test("the sprox set: read config and TLS paths, write var, listed env only, C library FFI only, no run/sys", () => {
  assert.deepEqual(Object.keys(SET).sort(), ["env", "ffi", "net", "read", "write"]);
  // FFI: the C library only (malloc_trim, bound at start and revoked before serving).
  assert.deepEqual(SET.ffi, LIBC_PATHS);
  // ./src: the worker isolates of `server.workers` load their module graph from it.
  assert.deepEqual(SET.read, ["./src", "./config", "./var", "./.env", "/config", "/etc/sprox"]);
  // /run/systemd/notify: readiness and watchdog datagrams under systemd (Type=notify).
  assert.deepEqual(SET.write, ["./var", "/run/systemd/notify"]);
  const env = SET.env as { allow: string[]; ignore: boolean };
  assert.equal(env.ignore, true);
  assert.ok(env.allow.includes("SPROX_CONFIG") && env.allow.includes("API_PASSWORD"));
});

Deno.test("permissionFlags() re-bases relative entries and keeps the env allowlist", () => {
  assert.deepEqual(permissionFlags(SET, "/var/lib/sprox"), [
    "--allow-read=/var/lib/sprox/src,/var/lib/sprox/config,/var/lib/sprox/var,/var/lib/sprox/.env,/config,/etc/sprox",
    "--allow-write=/var/lib/sprox/var,/run/systemd/notify",
    "--allow-net",
    `--allow-ffi=${LIBC_PATHS.join(",")}`,
    `--allow-env=${(SET.env as { allow: string[] }).allow.join(",")}`,
    "--ignore-env",
  ]);
  assert.throws(
    () => permissionFlags({ ...SET, run: true } as PermissionSet, "/app"),
    /cannot translate key\(s\) run/,
  );
});

Deno.test("compileArgs() with SPROX_INSTALL_DIR uses the translated set, and wants it absolute", () => {
  const args = compileArgs({
    output: "/tmp/out",
    installDir: "/opt/sprox/",
    permissions: SET,
    excludes: ["/cache/bintrees/1.0.2/test"],
  });
  assert.ok(args.includes("--allow-write=/opt/sprox/var,/run/systemd/notify"));
  assert.ok(!args.includes("-P=sprox"));
  assert.ok(args.includes("--exclude=/cache/bintrees/1.0.2/test"));
  assert.throws(
    () => compileArgs({ output: "o", installDir: "opt", permissions: SET }),
    /SPROX_INSTALL_DIR must be an absolute path/,
  );
});

Deno.test("failureReason() keeps the informative part of deno compile's error chain", () => {
  const stderr = `error: Writing deno compile executable to temporary file 'dist/sprox.tmp'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort.zip): dns error
    2: dns error

Stack backtrace:
   0: <unknown>`;
  assert.equal(
    failureReason(stderr),
    "error sending request for url (https://dl.deno.land/release/v2.9.6/denort.zip): dns error",
  );
});

Deno.test("checkDenortBin() names what is wrong with DENORT_BIN", async () => {
  assert.match(checkDenortBin("/nonexistent/denort")!, /DENORT_BIN="\/nonexistent\/denort"/);
  const file = await Deno.makeTempFile();
  try {
    await Deno.chmod(file, 0o644);
    assert.match(checkDenortBin(file)!, /is not executable/);
    await Deno.chmod(file, 0o755);
    assert.equal(checkDenortBin(file), undefined);
  } finally {
    await Deno.remove(file);
  }
});

/** The compiled binary carries the sandbox: a certificate in /tmp is refused, not read. */
async function assertBinarySandboxed(binary: string): Promise<void> {
  const config = await scratchDir();
  const outside = await Deno.makeTempFile({ suffix: ".pem" });
  try {
    await Deno.writeTextFile(
      `${config}/routes.yaml`,
      `routes:
  - id: "tls"
    listen: { host: "127.0.0.1", port: 8443, tls: { enabled: true, certificate_path: "${outside}", private_key_path: "${outside}" } }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
`,
    );
    const out = await new Deno.Command(binary, {
      args: ["validate", "-c", config],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(180_000),
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, text);
    assert.match(text, /is outside the read permission of the sProx sandbox/);
  } finally {
    await Deno.remove(outside);
    await Deno.remove(config, { recursive: true });
  }
}

async function runCompileTask(env: Record<string, string>, output: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "compile", "--output", output],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(180_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, text: decode(out.stdout) + decode(out.stderr) };
}

Deno.test("deno task compile with an unusable DENORT_BIN says what it needs and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const result = await runCompileTask({ DENORT_BIN: "/nonexistent/denort" }, `${dir}/sprox`);
    assert.equal(result.code, 1, result.text);
    assert.match(result.text, /deno compile needs denort \d+\.\d+\.\d+ for \S+/);
    assert.match(result.text, /DENORT_BIN="\/nonexistent\/denort" cannot be used/);
    assert.match(result.text, /DENORT_BIN=\$PWD\/denort deno task compile/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile builds the binary, or explains how to get denort", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env: Record<string, string> = {};
    const denort = Deno.env.get("DENORT_BIN");
    if (denort) env.DENORT_BIN = denort;
    const result = await runCompileTask(env, `${dir}/sprox`);
    if (result.code === 0) {
      const version = await new Deno.Command(`${dir}/sprox`, {
        args: ["--version"],
        signal: AbortSignal.timeout(180_000),
      }).output();
      assert.match(new TextDecoder().decode(version.stdout), /^sprox \d+\.\d+\.\d+/);
      await assertBinarySandboxed(`${dir}/sprox`);
    } else {
      // No denort on this host (no DENORT_BIN, no way to download it).
      assert.equal(result.code, 1, result.text);
      assert.match(result.text, /deno compile needs denort .* could not get it:\n {2}\S/);
      assert.match(result.text, /denort-[\w-]+\.zip/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
