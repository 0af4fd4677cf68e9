/**
 * Metrics of the edge's connections: open, accepted, shed and closed by the server.
 * @module
 */
import client from "prom-client";
import { registry } from "./metrics.ts";

/** Open client connections, by listener. */
export const connectionsOpen = new client.Gauge({
  name: "sprox_connections_open",
  help: "Open client connections, by listener.",
  labelNames: ["listener"] as const,
  registers: [registry],
});

/** Client connections accepted and admitted, by listener. */
export const connectionsAccepted = new client.Counter({
  name: "sprox_connections_accepted_total",
  help: "Client connections accepted and admitted, by listener.",
  labelNames: ["listener"] as const,
  registers: [registry],
});

/** Connections refused at accept, by listener and reason. */
export const connectionsShed = new client.Counter({
  name: "sprox_connections_shed_total",
  help:
    "Connections closed at accept, by listener and reason (max_connections, max_connections_per_ip, fd_pressure, accept_error).",
  labelNames: ["listener", "reason"] as const,
  registers: [registry],
});

/** Connections the server closed, by listener and reason. */
export const connectionsClosedByServer = new client.Counter({
  name: "sprox_connections_closed_by_server_total",
  help:
    "Connections closed by sProx, by listener and reason (header_timeout, idle_timeout, make_room, shutdown).",
  labelNames: ["listener", "reason"] as const,
  registers: [registry],
});

/** TLS handshakes, by listener, transport (`tcp`, `quic`) and result (`ok`, `failed`). */
export const tlsHandshakes = new client.Counter({
  name: "sprox_tls_handshakes_total",
  help:
    "TLS handshakes on TLS listeners, by listener, transport (tcp, quic) and result (ok, failed).",
  labelNames: ["listener", "transport", "result"] as const,
  registers: [registry],
});

/** Connections by negotiated HTTP version (`h1`, `h2`, `h3`). */
export const connectionsByProtocol = new client.Counter({
  name: "sprox_connections_by_protocol_total",
  help: "Client connections admitted, by listener and HTTP version (h1, h2, h3).",
  labelNames: ["listener", "protocol"] as const,
  registers: [registry],
});

/** Requests by HTTP version (`h1`, `h2`, `h3`). */
export const requestsByProtocol = new client.Counter({
  name: "sprox_requests_by_protocol_total",
  help: "Requests received, by listener and HTTP version (h1, h2, h3).",
  labelNames: ["listener", "protocol"] as const,
  registers: [registry],
});

/** HTTP/3 connection and stream errors, by listener, error code name and scope. */
export const h3Errors = new client.Counter({
  name: "sprox_h3_errors_total",
  help:
    "HTTP/3 errors sProx detected, by listener, code (H3_FRAME_ERROR, ...) and scope (connection, stream).",
  labelNames: ["listener", "code", "scope"] as const,
  registers: [registry],
});

/** Distinct TLS server names the current socket of a listener has resolved a certificate for. */
export const tlsServerNames = new client.Gauge({
  name: "sprox_tls_server_names",
  help:
    "Distinct SNI names the current listening socket has resolved (the runtime caches one certificate per name).",
  labelNames: ["listener"] as const,
  registers: [registry],
});
