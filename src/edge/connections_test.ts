import assert from "node:assert/strict";
import { ConnectionTable, type TrackedConnection } from "./connections.ts";

const LIMITS = {
  maxConnections: 4,
  maxConnectionsPerIp: 2,
  headerTimeoutMs: 1000,
  idleTimeoutMs: 5000,
};

function setup(limits = LIMITS) {
  let now = 0;
  const closed: string[] = [];
  const reasons: string[] = [];
  const table = new ConnectionTable(limits, {
    closedByServer: (reason, c) => reasons.push(`${c.id}:${reason}`),
  }, { now: () => now, sweepMs: 0 });
  const admit = (peer: string, name: string) => {
    const result = table.admit(peer, () => closed.push(name));
    return result.admitted ? result.connection : result.reason;
  };
  return { table, closed, reasons, admit, advance: (ms: number) => (now += ms) };
}

Deno.test("ConnectionTable closes a head-less connection at the header timeout, not before", () => {
  const { table, closed, reasons, admit, advance } = setup();
  const c = admit("10.0.0.1", "a") as TrackedConnection;
  advance(999);
  table.sweep();
  assert.deepEqual(closed, []);
  advance(1);
  table.sweep();
  assert.deepEqual(closed, ["a"]);
  assert.deepEqual(reasons, [`${c.id}:header_timeout`]);
  assert.equal(c.state.closedBy, "header_timeout");
  assert.equal(table.size, 0);
  assert.equal(table.countFor("10.0.0.1"), 0);
});

Deno.test("ConnectionTable spares a connection with a request in flight; idles it after", () => {
  const { table, closed, admit, advance } = setup();
  const c = admit("10.0.0.1", "a") as TrackedConnection;
  table.requestStarted(c);
  advance(60_000);
  table.sweep();
  assert.deepEqual(closed, []);
  table.requestEnded(c);
  advance(4999);
  table.sweep();
  assert.deepEqual(closed, [], "idle timeout counts from the end of the response");
  advance(1);
  table.sweep();
  assert.deepEqual(closed, ["a"]);
  assert.equal(c.state.closedBy, "idle_timeout");
});

Deno.test("ConnectionTable makes room per IP: head-less before idle, busy never", () => {
  const { table, closed, admit } = setup();
  const busy = admit("10.0.0.1", "busy") as TrackedConnection;
  table.requestStarted(busy);
  const idle = admit("10.0.0.1", "idle") as TrackedConnection;
  table.requestStarted(idle);
  table.requestEnded(idle);
  // Third from the same peer: the idle one gives way (the busy one is kept).
  const third = admit("10.0.0.1", "third") as TrackedConnection;
  assert.deepEqual(closed, ["idle"]);
  assert.equal(idle.state.closedBy, "make_room");
  // Fourth: the head-less third gives way.
  admit("10.0.0.1", "fourth");
  assert.deepEqual(closed, ["idle", "third"]);
  assert.equal(third.state.closedBy, "make_room");
  // Every connection of the peer busy: shed.
  const fourth = table.connections().find((c) => c.id !== busy.id)!;
  table.requestStarted(fourth);
  assert.equal(admit("10.0.0.1", "fifth"), "max_connections_per_ip");
  assert.equal(table.countFor("10.0.0.1"), 2);
});

Deno.test("ConnectionTable caps the listener across peers and sheds when all are busy", () => {
  const { table, closed, admit } = setup({ ...LIMITS, maxConnectionsPerIp: 10 });
  const conns = ["a", "b", "c", "d"].map((n, i) => admit(`10.0.0.${i}`, n) as TrackedConnection);
  admit("10.0.1.1", "e");
  assert.deepEqual(closed, ["a"], "the oldest quiet connection gives way");
  for (const c of table.connections()) table.requestStarted(c);
  assert.equal(admit("10.0.1.2", "f"), "max_connections");
  assert.equal(table.size, 4);
  assert.equal(conns[0].state.closedBy, "make_room");
});

Deno.test("ConnectionTable under descriptor pressure replaces a quiet connection or sheds", () => {
  const { table, closed } = setup({ ...LIMITS, maxConnectionsPerIp: 10 });
  const a = table.admit("10.0.0.1", () => closed.push("a"));
  assert.ok(a.admitted);
  const b = table.admit("10.0.0.2", () => closed.push("b"), { fdPressure: true });
  assert.ok(b.admitted);
  assert.deepEqual(closed, ["a"]);
  if (b.admitted) table.requestStarted(b.connection);
  const c = table.admit("10.0.0.3", () => closed.push("c"), { fdPressure: true });
  assert.deepEqual(c, { admitted: false, reason: "fd_pressure" });
  assert.equal(table.reclaim(5), 0, "a busy connection is never reclaimed");
});
