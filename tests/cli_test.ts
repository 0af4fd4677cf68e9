import assert from "node:assert/strict";
import { freePort, REPO_ROOT, runCli, scratchDir, startSprox } from "./_support/mod.ts";

Deno.test("sprox --help and --version exit 0", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /sprox validate -c/);
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^sprox \d+\.\d+\.\d+/);
});

Deno.test("sprox misuse exits 2 with the usage", async () => {
  for (
    const args of [["frobnicate"], ["--bogus"], ["healthcheck", "extra"], ["validate", "extra"], [
      "healthcheck",
      "--url",
      "http://127.0.0.1:1/",
      "--timeout-ms",
      "soon",
    ]]
  ) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /Usage:/);
  }
});

Deno.test("sprox validate -c config exits 0 with a summary of routes and listeners", async () => {
  const result = await runCli(["validate", "-c", "config"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /configuration is valid/);
  assert.match(result.stdout, /0\.0\.0\.0:8080/);
  assert.match(result.stdout, /vod-edge/);
  assert.match(result.stdout, /api-pass-through/);
});

Deno.test("sprox validate lists every error with file:line:column and exits 1", async () => {
  const dir = await scratchDir();
  await Deno.copyFile(`${REPO_ROOT}tests/fixtures/config/three-errors.yaml`, `${dir}/routes.yaml`);
  const result = await runCli(["validate", "-c", dir]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /routes\.yaml:5:7: error: 'routes\[0\]\.listen\.prot' .*did you mean "port"/,
  );
  assert.match(
    result.stderr,
    /routes\.yaml:6:\d+: error: 'routes\[0\]\.listen\.port' must be <= 65535: current value is 70000/,
  );
  assert.match(
    result.stderr,
    /routes\.yaml:11:\d+: error: 'routes\[0\]\.hls\.base_url' is required/,
  );
  assert.match(result.stderr, /3 error\(s\)/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sprox validate honours SPROX_CONFIG and accepts a file path", async () => {
  const dir = await scratchDir();
  await Deno.copyFile(`${REPO_ROOT}tests/fixtures/config/minimal.yaml`, `${dir}/custom.yaml`);
  const byEnv = await runCli(["validate"], { env: { SPROX_CONFIG: `${dir}/custom.yaml` } });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.match(byEnv.stdout, /custom\.yaml: configuration is valid/);
  const missing = await runCli(["validate", "-c", `${dir}/nope.yaml`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot be read: file not found/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sprox healthcheck exits 0 against a live server and 1 against a closed port", async () => {
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: hc
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
`);
  try {
    const ok = await runCli(["healthcheck", "--url", `http://127.0.0.1:${port}/health`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /healthy/);
    const notFound = await runCli(["healthcheck", "--url", `http://127.0.0.1:${port}/nope`]);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /answered 502/);
  } finally {
    await sprox.stop();
  }
  const closed = await runCli([
    "healthcheck",
    "--url",
    `http://127.0.0.1:${port}/health`,
    "--timeout-ms",
    "1000",
  ]);
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /unhealthy/);
});

Deno.test("sprox serve refuses to start on an invalid config and exits 1", async () => {
  const dir = await scratchDir();
  await Deno.copyFile(`${REPO_ROOT}tests/fixtures/config/three-errors.yaml`, `${dir}/routes.yaml`);
  const result = await runCli(["serve", "-c", dir]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /not starting/);
  await Deno.remove(dir, { recursive: true });
});
