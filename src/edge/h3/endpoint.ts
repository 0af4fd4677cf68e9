/**
 * The UDP side of an HTTP/3 listener: a QUIC endpoint offering ALPN `h3` with the
 * listener's certificate.
 *
 * What the pinned runtime (2.9.6, `--unstable-net`) allows, measured:
 * - no `SO_REUSEPORT` for QUIC, so a certificate change cannot bind a second socket; instead
 *   the endpoint is told to listen again with the new pair, which replaces the server
 *   configuration of the same socket (new handshakes get the new certificate, established
 *   connections are untouched). Every listener object so created must stay referenced: when
 *   one is garbage-collected the runtime clears the endpoint's server configuration and the
 *   endpoint stops accepting;
 * - the certificate is fixed per endpoint: QUIC takes no per-name resolver ("key and cert
 *   are required"), so HTTP/3 serves the listener's default certificate only;
 * - reading `remoteAddr` of an incoming connection before accepting it consumes it (the
 *   accept then fails with "Invalid QuicIncoming resource"), so per-address admission
 *   happens after the handshake.
 * @module
 */

/** Where and how the endpoint binds. */
export interface QuicBindOptions {
  readonly hostname: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  /** Concurrent request streams per connection (QUIC's MAX_STREAMS for bidirectional streams). */
  readonly maxConcurrentStreams: number;
  /** QUIC idle timeout: a connection silent this long is closed. */
  readonly idleTimeoutMs: number;
}

/** The peer's unidirectional streams a client needs: control, QPACK encoder and decoder, and room for reserved types. */
const MAX_UNIDIRECTIONAL_STREAMS = 8;

/** A bound QUIC endpoint accepting HTTP/3 connections. */
export class QuicSocket {
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #options: QuicBindOptions;
  /** Every listener made on the endpoint (see the module note on garbage collection). */
  readonly #listeners: Deno.QuicListener[] = [];
  #closed = false;

  private constructor(endpoint: Deno.QuicEndpoint, options: QuicBindOptions) {
    this.#endpoint = endpoint;
    this.#options = options;
  }

  /**
   * Binds UDP `hostname:port` and starts listening with the certificate. Throws what the
   * runtime throws (address in use, an unusable key pair).
   *
   * @example
   * ```ts
   * const socket = QuicSocket.bind({ hostname: "0.0.0.0", port: 443, cert, key, maxConcurrentStreams: 100, idleTimeoutMs: 60000 });
   * ```
   */
  static bind(options: QuicBindOptions): QuicSocket {
    const endpoint = new Deno.QuicEndpoint({ hostname: options.hostname, port: options.port });
    const socket = new QuicSocket(endpoint, options);
    try {
      socket.setCertificate(options.cert, options.key);
    } catch (error) {
      endpoint.close();
      throw error;
    }
    return socket;
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return { ...this.#endpoint.addr, transport: "udp" } as Deno.NetAddr;
  }

  /** Serves new handshakes with another certificate; established connections are untouched. */
  setCertificate(cert: string, key: string): void {
    this.#listeners.push(this.#endpoint.listen({
      cert,
      key,
      alpnProtocols: ["h3"],
      maxConcurrentBidirectionalStreams: this.#options.maxConcurrentStreams,
      maxConcurrentUnidirectionalStreams: MAX_UNIDIRECTIONAL_STREAMS,
      maxIdleTimeout: this.#options.idleTimeoutMs,
    }));
  }

  /**
   * Incoming connections until the endpoint closes. (Every listener of the endpoint draws
   * from the same queue, and a handshake uses the configuration current at that moment.)
   */
  async *incoming(): AsyncGenerator<Deno.QuicIncoming> {
    const listener = this.#listeners[0];
    while (!this.#closed) {
      try {
        yield await listener.incoming();
      } catch {
        return;
      }
    }
  }

  /** Refuses new connections; established ones go on. */
  stopAccepting(): void {
    for (const listener of this.#listeners) {
      try {
        listener.stop();
      } catch {
        // Already stopped.
      }
    }
  }

  /** Closes the endpoint and every connection on it (code H3_NO_ERROR). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#endpoint.close({ closeCode: 0x100, reason: "" });
    } catch {
      // Already closed.
    }
  }
}
