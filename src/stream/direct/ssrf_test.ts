import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseIp, parseIpv4Loose } from "../../net/mod.ts";
import { classifyAddress, isLocalhostName, parseHostLiteral } from "./ssrf.ts";

const CASES: [string, string | undefined][] = [
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "this_network"],
  ["10.255.0.1", "private"],
  ["100.64.0.1", "cgnat"],
  ["100.127.255.255", "cgnat"],
  ["100.128.0.1", undefined],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["169.254.169.254", "link_local"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["172.32.0.1", undefined],
  ["192.0.0.8", "protocol_assignment"],
  ["192.0.2.1", "documentation"],
  ["192.168.0.1", "private"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["198.51.100.1", "documentation"],
  ["203.0.113.1", "documentation"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "broadcast"],
  ["8.8.8.8", undefined],
  ["93.184.216.34", undefined],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["::ffff:8.8.8.8", "ipv4_mapped"],
  ["::8.8.8.8", "ipv4_compatible"],
  ["64:ff9b::7f00:1", "loopback"],
  ["64:ff9b::808:808", undefined],
  ["64:ff9b:1::1", "nat64_local"],
  ["2002:7f00:1::1", "loopback"],
  ["2002:c0a8:101::1", "private"],
  ["2002:808:808::1", undefined],
  ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"],
  ["2001:0:7f00:1::1", "loopback"],
  ["2001:0:808:808:0:0:f7f7:f7f7", undefined],
  ["2001:db8::1", "documentation"],
  ["2001:2::1", "benchmarking"],
  ["2001:10::1", "protocol_assignment"],
  ["3fff::1", "documentation"],
  ["fc00::1", "unique_local"],
  ["fdff::1", "unique_local"],
  ["fe80::1", "link_local"],
  ["febf::1", "link_local"],
  ["fec0::1", "site_local"],
  ["ff02::1", "multicast"],
  ["100::1", "discard"],
  ["4000::1", "not_global_unicast"],
  ["2606:4700::1111", undefined],
];

Deno.test("classifyAddress() follows the special-purpose registries", () => {
  for (const [text, expected] of CASES) {
    assertEquals(classifyAddress(parseIp(text)!), expected, text);
  }
});

Deno.test("parseHostLiteral() reads IPv4 in every notation and bracketed IPv6 with zones", () => {
  const loop = [127, 0, 0, 1];
  for (
    const text of [
      "127.0.0.1",
      "127.1",
      "127.0.1",
      "2130706433",
      "0177.0.0.1",
      "0x7f.1",
      "0x7f000001",
      "017700000001",
      "0x7F.0.0.1",
      "127.0.0.1.",
    ]
  ) {
    assertEquals([...parseHostLiteral(text)!], loop, text);
  }
  assertEquals([...parseHostLiteral("0")!], [0, 0, 0, 0]);
  assertEquals(parseHostLiteral("[fe80::1%25eth0]")?.length, 16);
  assertEquals(parseHostLiteral("[fe80::1%eth0]")?.length, 16);
  assertEquals(classifyAddress(parseHostLiteral("[::ffff:127.0.0.1]")!), "ipv4_mapped");
  assertEquals([...parseIpv4Loose("0x")!], [0, 0, 0, 0]);
  for (const name of ["example.com", "1.2.3.4.5", "256.1.1.1", "08.0.0.1", "1.2.3.4294967296"]) {
    assertEquals(parseHostLiteral(name), undefined, name);
  }
});

Deno.test("isLocalhostName() covers localhost and its subdomains", () => {
  for (const name of ["localhost", "LOCALHOST.", "a.localhost", "localhost.localdomain"]) {
    assertEquals(isLocalhostName(name), true, name);
  }
  assertEquals(isLocalhostName("notlocalhost.com"), false);
});
