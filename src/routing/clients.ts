/**
 * Upstream HTTP clients: one `Deno.HttpClient` per distinct (TLS, SOCKS5) setting, built
 * when a configuration is compiled, shared by the routes that need it, closed on dispose.
 *
 * What Deno 2.9's `Deno.createHttpClient` can and cannot do, and what follows:
 * - `caCerts` adds PEM roots to the defaults → `ca_bundle_path`.
 * - `proxy: { url: "socks5://user:pass@host:port" }` tunnels every connection through
 *   SOCKS5 with username/password auth → `socks5` and `SPROX_PROXY_URL`.
 * - There is no option to set the TLS server name (SNI and the verification name are the
 *   request URL's host) and no per-client option to skip verification (only the
 *   process-wide `--unsafely-ignore-certificate-errors` flag). A route whose
 *   `sni_hostname` differs from the origin host, or with `insecure_skip_verify`, is
 *   therefore sent through a loopback TLS relay (`tls_relay.ts`, `proxy: { transport:
 *   "tcp" }`), which opens TLS to the origin itself with the right name or without
 *   verification. Such routes speak HTTP/1.1 to the origin, and cannot be combined with
 *   SOCKS5 (SOCKS5 wins; validation warns).
 * @module
 */
import type { RouteConfig } from "../config/mod.ts";
import { UPSTREAM_POOL } from "../net/mod.ts";
import { TlsRelay } from "./tls_relay.ts";

/** The settings that make two routes need different clients. */
export interface ClientSettings {
  readonly caBundlePath: string | null;
  readonly socks5: { address: string; username: string | null; password: string | null } | null;
  /** Set when TLS must be opened by the loopback relay (SNI override or skip-verify). */
  readonly relay: {
    host: string;
    port: number;
    serverName: string;
    insecure: boolean;
  } | null;
}

/** The client settings of a route towards one of its origins (the relay is per origin). */
export function clientSettings(route: RouteConfig, originUrl: string): ClientSettings {
  const socks = route.upstream.socks5;
  const tls = route.upstream.tls;
  const origin = new URL(originUrl);
  const socks5 = socks.enabled && socks.address
    ? { address: socks.address, username: socks.username, password: socks.password }
    : null;
  const host = origin.hostname.replace(/^\[|\]$/g, "");
  const serverName = tls.sni_hostname?.toLowerCase() ?? host;
  const needsRelay = origin.protocol === "https:" && socks5 === null &&
    (serverName !== host || tls.insecure_skip_verify);
  return {
    caBundlePath: tls.ca_bundle_path,
    socks5,
    relay: needsRelay
      ? {
        host,
        port: origin.port ? Number(origin.port) : 443,
        serverName,
        insecure: tls.insecure_skip_verify,
      }
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

/**
 * The first network hop towards one origin of a route: the SOCKS5 proxy when tunnelling,
 * else the origin.
 */
export function firstHop(
  route: RouteConfig,
  originUrl: string,
): { hostname: string; port: number } {
  const settings = clientSettings(route, originUrl);
  if (settings.socks5) {
    const url = new URL(`socks5://${settings.socks5.address}`);
    return { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) };
  }
  const origin = new URL(originUrl);
  const port = origin.port ? Number(origin.port) : origin.protocol === "https:" ? 443 : 80;
  return { hostname: origin.hostname.replace(/^\[|\]$/g, ""), port };
}

/** The clients of one plan. */
export class ClientPool {
  #clients = new Map<string, Deno.HttpClient>();
  #relays: TlsRelay[] = [];

  /** Returns the client for `settings`, building it on first use (at compile time). */
  clientFor(settings: ClientSettings): Deno.HttpClient {
    const key = JSON.stringify(settings);
    let client = this.#clients.get(key);
    if (!client) {
      const options: Deno.CreateHttpClientOptions = { ...UPSTREAM_POOL };
      const caCerts = settings.caBundlePath ? [Deno.readTextFileSync(settings.caBundlePath)] : [];
      if (caCerts.length) options.caCerts = caCerts;
      if (settings.socks5) options.proxy = { url: socks5Url(settings.socks5) };
      if (settings.relay) {
        const relay = new TlsRelay({ ...settings.relay, caCerts });
        this.#relays.push(relay);
        // The relay is reached with plain HTTP; Host must still name the origin.
        options.proxy = { transport: "tcp", hostname: "127.0.0.1", port: relay.port };
        options.allowHost = true;
      }
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
    for (const relay of this.#relays) relay.close();
    this.#relays = [];
  }
}
