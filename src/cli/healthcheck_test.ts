import assert from "node:assert/strict";
import { describeProbeFailure, healthUrlOf } from "./healthcheck.ts";
import { notifyAddress } from "./systemd.ts";

const listen = (host: string, port: number, tls = false) => ({
  listen: { host, port, tls: { enabled: tls } },
});

Deno.test("healthUrlOf() probes the first plain listener, wildcards on the loopback", () => {
  assert.equal(healthUrlOf([listen("0.0.0.0", 8080)]).href, "http://127.0.0.1:8080/health");
  assert.equal(healthUrlOf([listen("::", 9000)]).href, "http://[::1]:9000/health");
  assert.equal(healthUrlOf([listen("::1", 9001)]).href, "http://[::1]:9001/health");
  assert.equal(
    healthUrlOf([listen("127.0.0.2", 8443, true), listen("10.0.0.1", 8081)]).href,
    "http://10.0.0.1:8081/health",
  );
  assert.equal(healthUrlOf([listen("0.0.0.0", 8443, true)]).href, "https://127.0.0.1:8443/health");
});

Deno.test("describeProbeFailure() names timeouts and refusals", () => {
  const url = new URL("http://127.0.0.1:8080/health");
  assert.equal(
    describeProbeFailure(new DOMException("t", "TimeoutError"), url, 3000),
    "no answer within 3000 ms (the process is stuck, overloaded or not listening)",
  );
  const refused = new TypeError("fetch failed", {
    cause: new Error(
      "client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  assert.equal(
    describeProbeFailure(refused, url, 3000),
    "connection refused: nothing listens on 127.0.0.1:8080 (is sprox running, with a listener on this port?)",
  );
});

Deno.test("notifyAddress() maps @name to the abstract namespace and keeps paths", () => {
  assert.equal(
    notifyAddress("@/org/freedesktop/systemd1/notify"),
    "\0/org/freedesktop/systemd1/notify",
  );
  assert.equal(notifyAddress("/run/systemd/notify"), "/run/systemd/notify");
  assert.equal(notifyAddress("vsock:2:1234"), undefined);
  assert.equal(notifyAddress("@"), undefined);
});
