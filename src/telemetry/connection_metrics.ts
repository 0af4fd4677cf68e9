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
