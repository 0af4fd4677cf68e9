/**
 * The `sprox` command line: `serve` (default), `validate`, `healthcheck`.
 * @module
 */
import { parseArgs } from "node:util";
import { loadDotEnv } from "../config/mod.ts";
import { VERSION } from "../version.ts";
import { runHealthcheck } from "./healthcheck.ts";
import { runServe } from "./serve.ts";
import { USAGE } from "./usage.ts";
import { runValidate } from "./validate.ts";

function misuse(message: string): number {
  console.error(`sprox: ${message}\n\n${USAGE}`);
  return 2;
}

/**
 * Runs the CLI with `args` and returns the exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await main(Deno.args));
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", short: "c" },
        url: { type: "string" },
        "timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (error) {
    return misuse((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(`sprox ${VERSION}`);
    return 0;
  }
  const [command = "serve", ...extra] = positionals;
  if (extra.length > 0) return misuse(`unexpected argument "${extra[0]}"`);
  loadDotEnv();
  switch (command) {
    case "serve":
      if (values.url || values["timeout-ms"]) {
        return misuse("--url/--timeout-ms belong to healthcheck");
      }
      return await runServe(values.config);
    case "validate":
      if (values.url || values["timeout-ms"]) {
        return misuse("--url/--timeout-ms belong to healthcheck");
      }
      return await runValidate(values.config);
    case "healthcheck": {
      const timeout = Number(values["timeout-ms"] ?? 2000);
      if (!Number.isInteger(timeout) || timeout <= 0) {
        return misuse(
          `--timeout-ms must be a positive integer: current value is "${values["timeout-ms"]}"`,
        );
      }
      return await runHealthcheck({
        url: values.url,
        config: values.config,
        timeoutMs: timeout,
      });
    }
    default:
      return misuse(`unknown command "${command}"`);
  }
}
