/**
 * The `sprox` entry point.
 * @module
 */
import { main } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
