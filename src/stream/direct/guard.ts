/**
 * The SSRF guard's effectful half: resolve a destination (static hosts, then DNS A + AAAA),
 * refuse it when any address is not public, and return the one checked address to connect
 * to.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { formatIp, type IpBytes, parseIp } from "../../net/mod.ts";
import { classifyAddress, isLocalhostName, parseHostLiteral } from "./ssrf.ts";

/** Resolves a host name to address strings; an empty list means "does not resolve". */
export type Resolver = (host: string) => Promise<string[]>;

/**
 * The default resolver: the configured static `hosts` map first, then `Deno.resolveDns`
 * A and AAAA in parallel (the system hosts file is not consulted, which is why the
 * connection is pinned to the address returned here).
 *
 * @example
 * ```ts
 * const resolve = createResolver({ "origin.test": ["192.0.2.10"] });
 * await resolve("origin.test"); // ["192.0.2.10"]
 * ```
 */
export function createResolver(hosts: Readonly<Record<string, readonly string[]>>): Resolver {
  const table = new Map(
    Object.entries(hosts).map(([name, list]) => [name.toLowerCase().replace(/\.$/, ""), list]),
  );
  return async (host) => {
    const fixed = table.get(host);
    if (fixed) return [...fixed];
    const [a, aaaa] = await Promise.allSettled([
      Deno.resolveDns(host, "A"),
      Deno.resolveDns(host, "AAAA"),
    ]);
    return [
      ...(a.status === "fulfilled" ? a.value : []),
      ...(aaaa.status === "fulfilled" ? aaaa.value : []),
    ];
  };
}

/** What the guard needs from the plan. */
export interface GuardOptions {
  readonly resolver: Resolver;
  /** Labs and tests: skip the address classification (resolution and pinning still apply). */
  readonly allowPrivateNetworks: boolean;
  /** Exact `address|port` pairs (canonical address text) the guard lets through. */
  readonly exceptions: ReadonlySet<string>;
}

/** A destination address that passed the guard. */
export interface CheckedAddress {
  /** Canonical address text (IPv6 without brackets). */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly port: number;
}

function refuse(): never {
  throw new ProxyError(403, "private_network", "destination resolves to a non-public address");
}

function admit(ip: IpBytes, port: number, options: GuardOptions): void {
  if (options.allowPrivateNetworks) return;
  if (classifyAddress(ip) === undefined) return;
  if (options.exceptions.has(`${formatIp(ip)}|${port}`)) return;
  refuse();
}

/**
 * Checks a destination host before any connection: an IP literal is classified as is; a
 * name is refused when it is `localhost`-like or when ANY of its A/AAAA addresses is not
 * public. Returns the first address, which the connection is then pinned to.
 *
 * @example
 * ```ts
 * await checkDestination("cdn.example", 443, options); // { ip: "93.184.216.34", ... }
 * ```
 */
export async function checkDestination(
  host: string,
  port: number,
  options: GuardOptions,
): Promise<CheckedAddress> {
  const literal = parseHostLiteral(host);
  if (literal) {
    admit(literal, port, options);
    return { ip: formatIp(literal), family: literal.length === 4 ? 4 : 6, port };
  }
  if (isLocalhostName(host) && !options.allowPrivateNetworks) refuse();
  let addresses: string[];
  try {
    addresses = await options.resolver(host);
  } catch (error) {
    throw new ProxyError(502, "upstream_error", "destination name does not resolve", {
      cause: error,
    });
  }
  const parsed = addresses.map((text) => parseIp(text));
  if (parsed.length === 0) {
    throw new ProxyError(502, "upstream_error", "destination name does not resolve");
  }
  // A resolver answer that is not an address is as suspicious as a private one.
  if (parsed.some((ip) => ip === undefined)) refuse();
  for (const ip of parsed as IpBytes[]) admit(ip, port, options);
  const first = parsed[0]!;
  return { ip: formatIp(first), family: first.length === 4 ? 4 : 6, port };
}
