/**
 * Per-hostname certificates on one TLS listener: the certificate for a handshake is chosen
 * by the server name the client sends (SNI); unknown names and clients that send none get
 * the listener's default pair.
 *
 * The runtime offers this through a per-socket resolver (`Deno.listenTls` with the internal
 * `resolverSymbol`) that it asks once per distinct server name and then caches for the
 * socket's whole life. Two consequences, both handled by swapping the socket (a fresh
 * socket has a fresh cache, as a certificate rotation does): a renewed certificate reaches
 * clients only through a new socket, and a client sending many random names would grow the
 * cache without bound, so past {@linkcode MAX_SERVER_NAMES} distinct names the listener asks
 * for a swap.
 * @module
 */

/** PEM certificate chain and private key. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** A certificate and the server names it is served for. */
export interface NamedKeyPair {
  readonly serverNames: readonly string[];
  readonly pair: KeyPair;
}

/** Distinct server names one socket resolves before the listener swaps it. */
export const MAX_SERVER_NAMES = 1024;

/**
 * Whether server `name` matches `pattern`: equal ignoring case and a trailing dot, or
 * `*.suffix` matching exactly one more label (RFC 6125 §6.4.3 style).
 *
 * @example
 * ```ts
 * matchServerName("*.example.com", "tv.example.com"); // true
 * matchServerName("*.example.com", "a.tv.example.com"); // false
 * ```
 */
export function matchServerName(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const n = name.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === n;
  const suffix = p.slice(1);
  if (!n.endsWith(suffix)) return false;
  const label = n.slice(0, n.length - suffix.length);
  return label.length > 0 && !label.includes(".");
}

/** Chooses a listener's certificate by server name and counts the names it was asked for. */
export class CertificateSelector {
  readonly #default: KeyPair;
  readonly #named: readonly NamedKeyPair[];
  readonly #maxNames: number;
  readonly #onLimit: () => void;
  readonly #onNewName: (distinct: number) => void;
  #seen = new Set<string>();
  #limitReported = false;

  constructor(
    defaultPair: KeyPair,
    named: readonly NamedKeyPair[],
    options: {
      maxNames?: number;
      onLimit?: () => void;
      onNewName?: (distinct: number) => void;
    } = {},
  ) {
    this.#default = defaultPair;
    this.#named = named;
    this.#maxNames = options.maxNames ?? MAX_SERVER_NAMES;
    this.#onLimit = options.onLimit ?? (() => {});
    this.#onNewName = options.onNewName ?? (() => {});
  }

  /** Distinct names resolved so far. */
  get distinctNames(): number {
    return this.#seen.size;
  }

  /** The named certificate covering `host`, if any (`undefined`: the default serves it). */
  namedFor(host: string): NamedKeyPair | undefined {
    return this.#named.find((n) => n.serverNames.some((p) => matchServerName(p, host)));
  }

  /**
   * The pair for a handshake asking for `serverName` ("" when the client sent no SNI).
   *
   * @example
   * ```ts
   * selector.resolve("tv.example.com").cert;
   * ```
   */
  resolve(serverName: string): KeyPair {
    if (!this.#seen.has(serverName)) {
      this.#seen.add(serverName);
      this.#onNewName(this.#seen.size);
      if (this.#seen.size > this.#maxNames && !this.#limitReported) {
        this.#limitReported = true;
        this.#onLimit();
      }
    }
    return this.namedFor(serverName)?.pair ?? this.#default;
  }
}
