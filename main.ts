/**
 * The `sprox` entry point.
 * @module
 */
import { main } from "./src/cli/mod.ts";
import { flushLogs } from "./src/telemetry/mod.ts";

if (import.meta.main) {
  const code = await main(Deno.args);
  flushLogs();
  Deno.exit(code);
}
