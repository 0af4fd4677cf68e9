import assert from "node:assert/strict";
import { cidrContains, formatIp, parseCidr, parseIp } from "./ip.ts";

Deno.test("parseIp() reads canonical IPv4 and IPv6, brackets and zone ids", () => {
  assert.deepEqual([...parseIp("192.168.1.20")!], [192, 168, 1, 20]);
  assert.equal(formatIp(parseIp("[::1]")!), "::1");
  assert.equal(formatIp(parseIp("fe80::1%eth0")!), "fe80::1");
  assert.equal(formatIp(parseIp("::ffff:127.0.0.1")!), "::ffff:7f00:1");
  assert.equal(formatIp(parseIp("2001:DB8:0:0:0:0:0:1")!), "2001:db8::1");
});

Deno.test("parseIp() rejects what is not an address", () => {
  for (
    const bad of ["256.1.1.1", "1.2.3", "example.com", "1::2::3", "12345::", ":::", "1.2.3.4.5"]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("cidrContains() matches prefixes of either family and never across families", () => {
  const loop = parseCidr("127.0.0.0/8")!;
  assert.ok(cidrContains(loop, parseIp("127.200.0.1")!));
  assert.ok(!cidrContains(loop, parseIp("128.0.0.1")!));
  const ula = parseCidr("fc00::/7")!;
  assert.ok(cidrContains(ula, parseIp("fd12::1")!));
  assert.ok(!cidrContains(ula, parseIp("fe80::1")!));
  assert.ok(!cidrContains(loop, parseIp("::1")!));
  assert.ok(cidrContains(parseCidr("10.1.2.3")!, parseIp("10.1.2.3")!));
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
});
