/**
 * Upstream HTTP clients: one `Deno.HttpClient` per distinct (TLS, SOCKS5) setting, built
 * when a configuration is compiled, shared by the routes that need it, closed on dispose.
 *
 * What Deno 2.9's `Deno.createHttpClient` can and cannot do, and what follows:
 * - `caCerts` adds PEM roots to the defaults → `ca_bundle_path`.
 * - `proxy: { url: "socks5://user:pass@host:port" }` tunnels every connection through
 *   SOCKS5 with username/password auth → `socks5` and `SPROX_PROXY_URL`.
 * - There is no option to set the TLS server name: SNI and certificate verification
 *   always use the request URL's host. `sni_hostname` equal to the origin host is
 *   therefore a no-op; a different value cannot be honoured and is reported as a
 *   warning at validate and at start (the origin host's name is used).
 * - There is no per-client option to skip certificate verification (only the
 *   process-wide `--unsafely-ignore-certificate-errors` flag). `insecure_skip_verify`
 *   routes are warned about loudly; verification still happens, so such origins need
 *   their CA in `ca_bundle_path`.
 * @module
 */
import type { RouteConfig } from "../config/mod.ts";

/** The settings that make two routes need different clients. */
export interface ClientSettings {
  readonly caBundlePath: string | null;
  readonly socks5: { address: string; username: string | null; password: string | null } | null;
}

/** The client settings of a route. */
export function clientSettings(route: RouteConfig): ClientSettings {
  const socks = route.upstream.socks5;
  return {
    caBundlePath: route.upstream.tls.ca_bundle_path,
    socks5: socks.enabled && socks.address
      ? { address: socks.address, username: socks.username, password: socks.password }
      : null,
  };
}

/** The SOCKS5 proxy URL of a setting (credentials percent-encoded). */
export function socks5Url(socks: NonNullable<ClientSettings["socks5"]>): string {
  const auth = socks.username !== null
    ? `${encodeURIComponent(socks.username)}:${encodeURIComponent(socks.password ?? "")}@`
    : "";
  return `socks5://${auth}${socks.address}`;
}

/** The first network hop of a route: the SOCKS5 proxy when tunnelling, else the origin. */
export function firstHop(route: RouteConfig): { hostname: string; port: number } {
  const settings = clientSettings(route);
  if (settings.socks5) {
    const url = new URL(`socks5://${settings.socks5.address}`);
    return { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) };
  }
  const origin = new URL(route.upstream.origin);
  const port = origin.port ? Number(origin.port) : origin.protocol === "https:" ? 443 : 80;
  return { hostname: origin.hostname.replace(/^\[|\]$/g, ""), port };
}

/** The clients of one plan. */
export class ClientPool {
  #clients = new Map<string, Deno.HttpClient>();

  /** Returns the client for `settings`, building it on first use (at compile time). */
  clientFor(settings: ClientSettings): Deno.HttpClient {
    const key = JSON.stringify(settings);
    let client = this.#clients.get(key);
    if (!client) {
      const options: Deno.CreateHttpClientOptions = {};
      if (settings.caBundlePath) options.caCerts = [Deno.readTextFileSync(settings.caBundlePath)];
      if (settings.socks5) options.proxy = { url: socks5Url(settings.socks5) };
      client = Deno.createHttpClient(options);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** How many distinct clients were built. */
  get size(): number {
    return this.#clients.size;
  }

  /** Closes every client. */
  close(): void {
    for (const client of this.#clients.values()) {
      try {
        client.close();
      } catch {
        // Already closed.
      }
    }
    this.#clients.clear();
  }
}
