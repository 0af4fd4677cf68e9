/**
 * The secret values a configuration holds, for the logger's last line of defence
 * (`protectSecrets()`): whatever field would carry them, they never reach a log line.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { bytesToBase64Url, hexToBytes } from "../net/mod.ts";

/**
 * Every secret value of a configuration: credentials, token keys, proxy passwords and
 * ClearKey key material in each notation it may be written in.
 *
 * @example
 * ```ts
 * protectSecrets(configuredSecretValues(config));
 * ```
 */
export function configuredSecretValues(config: Config): string[] {
  const values: (string | null | undefined)[] = [
    config.auth.bearer_token,
    config.admin.bearer_token,
    config.direct_stream?.api_password,
    config.tokens.aes_key,
    config.tokens.aes_key?.toLowerCase(),
    config.tokens.aes_key?.toUpperCase(),
    config.tokens.signing_secret,
  ];
  const proxy = config.direct_stream?.proxy_url;
  if (proxy) {
    try {
      values.push(decodeURIComponent(new URL(proxy).password) || null);
    } catch {
      // Validated by the schema; nothing to protect when it cannot be parsed.
    }
  }
  for (const route of config.routes) values.push(route.upstream.socks5.password);
  for (const { key } of config.secrets.clearkey) {
    values.push(key, key.toLowerCase(), key.toUpperCase());
    const bytes = hexToBytes(key);
    if (bytes) values.push(bytesToBase64Url(bytes));
  }
  return values.filter((v): v is string => typeof v === "string" && v.length > 0);
}
