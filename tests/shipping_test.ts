/**
 * The shipping artefacts: the Dockerfile (checked statically, no image is built here),
 * `scripts/docker-run.sh` (run against a stand-in `docker` that records its arguments) and
 * the systemd unit (checked by `systemd-analyze`).
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./_support/mod.ts";

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped, per stage. */
function parseDockerfile(text: string): Instruction[][] {
  const logical = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === "FROM") stages.push([]);
    stages.at(-1)?.push({ op: op.toUpperCase(), args: args.replace(/\s+/g, " ") });
  }
  return stages;
}

const DOCKERFILE = parseDockerfile(await Deno.readTextFile(`${REPO_ROOT}Dockerfile`));
const find = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op);

Deno.test("Dockerfile: the builder compiles with the official Deno image of the tested version", () => {
  assert.equal(DOCKERFILE.length, 2, "two stages");
  const [builder] = DOCKERFILE;
  assert.equal(find(builder, "FROM")[0].args, `denoland/deno:${Deno.version.deno} AS builder`);
  assert.ok(find(builder, "RUN").some((i) => i.args.startsWith("deno task compile")));
  assert.deepEqual(find(builder, "WORKDIR").map((i) => i.args), ["/app"]);
});

Deno.test("Dockerfile: the final stage is distroless, non-root, and runs sprox on /config", () => {
  const final = DOCKERFILE[1];
  assert.equal(find(final, "FROM")[0].args, "gcr.io/distroless/cc-debian12:nonroot");
  const users = find(final, "USER").map((i) => i.args);
  assert.equal(users.length, 1);
  assert.match(users[0], /^nonroot(:nonroot)?$/);
  // Same working directory as the builder: the permission set's ./var and ./.env resolve there.
  assert.deepEqual(find(final, "WORKDIR").map((i) => i.args), ["/app"]);
  assert.ok(
    find(final, "COPY").some((i) => /--from=builder \/app\/dist\/sprox \/sprox$/.test(i.args)),
  );
  assert.ok(
    find(final, "COPY").some((i) =>
      /--chown=nonroot:nonroot .*\/app\/var \/app\/var$/.test(i.args)
    ),
    "var/ (ACME cache) is writable by the runtime user",
  );
  assert.deepEqual(JSON.parse(find(final, "ENTRYPOINT")[0].args), ["/sprox"]);
  const cmd = JSON.parse(find(final, "CMD")[0].args) as string[];
  const env = find(final, "ENV").map((i) => i.args);
  const configured = cmd.includes("--config")
    ? cmd[cmd.indexOf("--config") + 1]
    : env.find((e) => e.startsWith("SPROX_CONFIG="))?.slice("SPROX_CONFIG=".length);
  assert.equal(cmd[0], "serve");
  assert.equal(configured, "/config/routes.yaml");
  assert.deepEqual(find(final, "EXPOSE").map((i) => i.args), ["8080"]);
});

Deno.test("Dockerfile: HEALTHCHECK probes /health through sprox healthcheck, on the configured port", () => {
  const [check] = find(DOCKERFILE[1], "HEALTHCHECK");
  const json = /CMD (\[.*\])$/.exec(check.args)?.[1];
  assert.ok(json, `exec-form CMD expected: ${check.args}`);
  const argv = JSON.parse(json) as string[];
  // No --url: the probe reads SPROX_CONFIG (set in the image) and asks /health on its first
  // listener, so a configuration on another port is probed there (tests/ops_test.ts).
  assert.deepEqual(argv, ["/sprox", "healthcheck", "--timeout-ms", "3000"]);
  const env = find(DOCKERFILE[1], "ENV").map((i) => i.args);
  assert.ok(env.includes("SPROX_CONFIG=/config/routes.yaml"));
});

async function runDockerRun(args: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/calls`;
  const stub = `${dir}/docker`;
  await Deno.writeTextFile(stub, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n`);
  await Deno.chmod(stub, 0o755);
  const out = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}scripts/docker-run.sh`, ...args],
    env: { DOCKER: stub, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const calls = (await Deno.readTextFile(log).catch(() => "")).trim().split("\n");
  await Deno.remove(dir, { recursive: true });
  return { code: out.code, calls, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("docker-run.sh builds sprox:local and mounts config and .env read-only", async () => {
  const envDir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${envDir}/.env`, "API_PASSWORD=change-me-please-now\n");
    const result = await runDockerRun(["validate", "--config", "/config/routes.yaml"], {
      ENV_FILE: `${envDir}/.env`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.calls[0], "build -t sprox:local .");
    const run = result.calls[1];
    assert.match(run, /^run --rm -p 8080:8080 /);
    assert.ok(run.includes(`type=bind,src=${REPO_ROOT}config,dst=/config,readonly`), run);
    assert.ok(run.includes(`type=bind,src=${envDir}/.env,dst=/app/.env,readonly`), run);
    assert.match(run, / sprox:local validate --config \/config\/routes\.yaml$/);
  } finally {
    await Deno.remove(envDir, { recursive: true });
  }
});

Deno.test("docker-run.sh honours IMAGE_NAME and skips a missing .env", async () => {
  const result = await runDockerRun([], {
    IMAGE_NAME: "example/sprox:test",
    ENV_FILE: "/nonexistent/.env",
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.calls[0], "build -t example/sprox:test .");
  assert.doesNotMatch(result.calls[1], /\/app\/\.env/);
  assert.match(result.calls[1], / example\/sprox:test$/);
});

Deno.test("systemd unit: systemd-analyze verify passes without a warning", async () => {
  const unit = await Deno.readTextFile(`${REPO_ROOT}scripts/sprox.service`);
  for (
    const line of [
      "Type=notify",
      "NotifyAccess=main",
      "WatchdogSec=30s",
      "ExecStart=/usr/local/bin/sprox serve --config /etc/sprox/routes.yaml",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "Restart=on-failure",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "ReadOnlyPaths=/etc/sprox",
      "EnvironmentFile=-/etc/sprox/sprox.env",
      "StateDirectory=sprox",
      "WorkingDirectory=/var/lib/sprox",
    ]
  ) assert.ok(unit.split("\n").includes(line), `missing: ${line}`);

  // verify insists that ExecStart names an existing executable: the copy under test points
  // at a stand-in, since /usr/local/bin/sprox is not installed on a build host.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/sprox`, "#!/bin/sh\nexit 0\n");
    await Deno.chmod(`${dir}/sprox`, 0o755);
    await Deno.writeTextFile(
      `${dir}/sprox.service`,
      unit.replaceAll("/usr/local/bin/sprox", `${dir}/sprox`),
    );
    const verify = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/sprox.service`],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stderr = new TextDecoder().decode(verify.stderr);
    assert.equal(verify.code, 0, stderr);
    assert.equal(stderr.trim(), "", "systemd-analyze reported problems");

    const security = await new Deno.Command("systemd-analyze", {
      args: ["security", "--offline=yes", "--no-pager", `${dir}/sprox.service`],
      env: { SYSTEMD_COLORS: "0" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(security.stdout);
    const exposure = Number(/Overall exposure level for sprox\.service: ([\d.]+)/.exec(text)?.[1]);
    assert.ok(exposure <= 4, `exposure ${exposure} (0 best, 10 worst):\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
