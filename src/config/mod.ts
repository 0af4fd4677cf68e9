/**
 * Configuration: the schema, the one loader shared by `serve`, `validate` and reload, and
 * the environment overrides.
 * @module
 */
export * from "./schema.ts";
export * from "./errors.ts";
export {
  loadConfig,
  type LoadedConfig,
  type LoadOptions,
  parseConfig,
  resolveConfigPath,
} from "./load.ts";
export {
  applyEnvOverrides,
  ENV_VARIABLES,
  type EnvLookup,
  loadDotEnv,
  parseSocks5Url,
  readEnv,
} from "./env.ts";
export { checkReadable } from "./_semantics.ts";
