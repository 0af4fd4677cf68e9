import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { checkDestination, createResolver, type GuardOptions } from "./guard.ts";

const table: Record<string, string[]> = {
  "public.test": ["93.184.216.34", "2606:2800:220:1::1"],
  "mixed.test": ["93.184.216.34", "10.0.0.1"],
  "junk.test": ["not-an-ip"],
  "gone.test": [],
};
const options = (extra: Partial<GuardOptions> = {}): GuardOptions => ({
  resolver: (host) => Promise.resolve(table[host] ?? []),
  allowPrivateNetworks: false,
  exceptions: new Set(),
  ...extra,
});

async function refusal(host: string, port = 80, extra: Partial<GuardOptions> = {}) {
  try {
    await checkDestination(host, port, options(extra));
    return undefined;
  } catch (error) {
    assert(error instanceof ProxyError);
    return `${error.status} ${error.reason}`;
  }
}

Deno.test("checkDestination() pins the first address of a public name", async () => {
  assertEquals(await checkDestination("public.test", 443, options()), {
    ip: "93.184.216.34",
    family: 4,
    port: 443,
  });
});

Deno.test("checkDestination() refuses when ANY address is not public", async () => {
  assertEquals(await refusal("mixed.test"), "403 private_network");
  assertEquals(await refusal("junk.test"), "403 private_network");
  assertEquals(await refusal("localhost"), "403 private_network");
  assertEquals(await refusal("0x7f.1"), "403 private_network");
  assertEquals(await refusal("fe80::1%eth0"), "403 private_network");
  assertEquals(await refusal("gone.test"), "502 upstream_error");
});

Deno.test("exceptions and allow_private_networks open the guard narrowly", async () => {
  const exceptions = new Set(["127.0.0.1|8080"]);
  assertEquals(await refusal("127.0.0.1", 8080, { exceptions }), undefined);
  assertEquals(await refusal("127.0.0.1", 8081, { exceptions }), "403 private_network");
  assertEquals(await refusal("mixed.test", 80, { allowPrivateNetworks: true }), undefined);
});

Deno.test("createResolver() answers from the static hosts map first", async () => {
  const resolve = createResolver({ "Origin.Test.": ["192.0.2.1"] });
  assertEquals(await resolve("origin.test"), ["192.0.2.1"]);
});
