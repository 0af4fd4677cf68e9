/**
 * The SSRF guard against a running server: hostile destinations in every notation, names
 * that resolve to non-public addresses (through the static `hosts` map, the resolver the
 * server consults before DNS) and redirect chains from an allowed origin into loopback.
 * Every probe must be refused with 400/403, and a recorder listening on the loopback port
 * the probes aim at proves that no connection was made.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";
import { directConfig, startOrigin, startRecorder, streamUrl } from "./_support/direct.ts";

const HOSTS: Record<string, string[]> = {
  "loop.test": ["127.0.0.1"],
  "loop-other.test": ["127.8.9.10"],
  "ten.test": ["10.1.2.3"],
  "oneseventwo.test": ["172.16.0.1"],
  "oneninetwo.test": ["192.168.1.1"],
  "cgnat.test": ["100.64.0.1"],
  "metadata.test": ["169.254.169.254"],
  "zero.test": ["0.0.0.0"],
  "thisnet.test": ["0.1.2.3"],
  "multicast.test": ["224.0.0.1"],
  "broadcast.test": ["255.255.255.255"],
  "doc1.test": ["192.0.2.1"],
  "doc2.test": ["198.51.100.7"],
  "doc3.test": ["203.0.113.9"],
  "bench.test": ["198.18.0.1"],
  "reserved.test": ["240.0.0.1"],
  "v6loop.test": ["::1"],
  "v6unspec.test": ["::"],
  "v6linklocal.test": ["fe80::1"],
  "v6ula.test": ["fd12:3456::1"],
  "v6multicast.test": ["ff02::1"],
  "v6doc.test": ["2001:db8::1"],
  "mapped.test": ["::ffff:127.0.0.1"],
  "compat.test": ["::127.0.0.1"],
  "nat64.test": ["64:ff9b::7f00:1"],
  "sixtofour.test": ["2002:7f00:1::1"],
  "teredo.test": ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
  // One public address and one private one: ANY private address refuses the name.
  "mixed.test": ["93.184.216.34", "127.0.0.1"],
  "mixed6.test": ["2606:2800:220:1::1", "::1"],
};

function guardConfig(port: number): string {
  const hosts = Object.entries(HOSTS).map(([name, list]) =>
    `    "${name}": [${list.map((a) => `"${a}"`).join(", ")}]`
  ).join("\n");
  return directConfig(
    port,
    `direct_stream:
  allowlist:
    - { domain: "*.test", schemes: [http, https] }
    - { domain: "localhost", schemes: [http, https] }
    - { domain: "*.localhost", schemes: [http, https] }
  hosts:
${hosts}
`,
  );
}

/** Hostile destinations; `P` is replaced by the recorder's port. */
const HOSTILE: readonly string[] = [
  // IPv4 literals in every notation.
  "http://127.0.0.1:P/",
  "http://127.1:P/",
  "http://127.0.1:P/",
  "http://2130706433:P/",
  "http://0177.0.0.1:P/",
  "http://0x7f.0.0.1:P/",
  "http://0x7f.1:P/",
  "http://0x7f000001:P/",
  "http://017700000001:P/",
  "http://127.000.000.001:P/",
  "http://127.0.0.1.:P/",
  "http://0:P/",
  "http://0.0.0.0:P/",
  "http://10.0.0.1:P/",
  "http://169.254.169.254:P/latest/meta-data/",
  "http://100.64.0.1:P/",
  "http://%31%32%37.0.0.1:P/",
  // IPv6 literals.
  "http://[::1]:P/",
  "http://[0:0:0:0:0:0:0:1]:P/",
  "http://[::]:P/",
  "http://[::ffff:127.0.0.1]:P/",
  "http://[::ffff:7f00:1]:P/",
  "http://[::127.0.0.1]:P/",
  "http://[64:ff9b::127.0.0.1]:P/",
  "http://[2002:7f00:0001::1]:P/",
  "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:P/",
  "http://[fe80::1%25lo]:P/",
  "http://[fe80::1]:P/",
  "http://[fd00::1]:P/",
  // Local names.
  "http://localhost:P/",
  "http://LOCALHOST.:P/",
  "http://a.b.localhost:P/",
  // Names resolving to non-public addresses.
  ...Object.keys(HOSTS).map((name) => `http://${name}:P/`),
  "https://loop.test:P/",
  "http://LOOP.TEST.:P/",
  // Not http(s), credentials, malformed, not allowlisted.
  "file:///etc/passwd",
  "gopher://127.0.0.1:P/",
  "ftp://loop.test:P/",
  "http://user:pass@loop.test:P/",
  "http://loop.test@127.0.0.1:P/",
  "http://[::1:P/",
  "//127.0.0.1:P/",
  "http://public.example:P/",
];

Deno.test("refuses every hostile destination with 400/403 before any connection", async () => {
  const recorder = startRecorder();
  const port = freePort();
  const sprox = await startSprox(guardConfig(port));
  try {
    const failures: string[] = [];
    for (const template of HOSTILE) {
      const d = template.replaceAll(":P", `:${recorder.port}`);
      const response = await fetch(streamUrl(port, d));
      const body = await response.text();
      if (response.status !== 400 && response.status !== 403) {
        failures.push(`${d} -> ${response.status} ${body}`);
      }
    }
    assertEquals(failures, []);
    assert(HOSTILE.length >= 40, `only ${HOSTILE.length} probes`);
    assertEquals(recorder.connections(), 0, "a probe reached the loopback recorder");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert(/sprox_direct_requests_total\{outcome="private_network"\} \d+/.test(metrics));
    assert(/sprox_direct_requests_total\{outcome="allowlist_denied"\} \d+/.test(metrics));
  } finally {
    await sprox.stop();
    recorder.close();
  }
});

Deno.test("rejects a redirect into loopback at every hop", async () => {
  const recorder = startRecorder();
  const targets = [
    `http://127.0.0.1:${recorder.port}/`,
    `http://localhost:${recorder.port}/`,
    `http://[::ffff:127.0.0.1]:${recorder.port}/`,
    `http://2130706433:${recorder.port}/`,
    `http://loop.test:${recorder.port}/`,
    `http://mapped.test:${recorder.port}/`,
    `http://elsewhere.example/`,
    `file:///etc/passwd`,
  ];
  let originPort = 0;
  const origin = startOrigin((request) => {
    const url = new URL(request.url);
    const hop = Number(url.searchParams.get("hop") ?? "0");
    if (url.pathname === "/to") {
      return new Response(null, {
        status: 302,
        headers: { location: targets[Number(url.searchParams.get("i"))] },
      });
    }
    if (url.pathname === "/chain") {
      // Three hops on the allowed origin, then into loopback.
      const next = hop < 3
        ? `http://origin.test:${originPort}/chain?hop=${hop + 1}`
        : `http://loop.test:${recorder.port}/`;
      return new Response(null, { status: 307, headers: { location: next } });
    }
    if (url.pathname === "/loop") {
      return new Response(null, { status: 301, headers: { location: `/loop?hop=${hop + 1}` } });
    }
    if (url.pathname === "/ok") {
      return new Response(null, {
        status: 302,
        headers: { location: hop < 2 ? `/ok?hop=${hop + 1}` : "/final" },
      });
    }
    return new Response("final body");
  });
  originPort = origin.port;
  const port = freePort();
  const sprox = await startSprox(directConfig(
    port,
    `direct_stream:
  allowlist:
    - { domain: "origin.test", schemes: [http] }
    - { domain: "loop.test", schemes: [http] }
    - { domain: "mapped.test", schemes: [http] }
    - { domain: "localhost", schemes: [http] }
  hosts:
    "origin.test": ["127.0.0.1"]
    "loop.test": ["127.0.0.1"]
    "mapped.test": ["::ffff:127.0.0.1"]
  private_network_exceptions: ["127.0.0.1:${origin.port}"]
`,
  ));
  const base = `http://origin.test:${origin.port}`;
  try {
    // The allowed origin itself is reachable, redirects on it are followed.
    const ok = await fetch(streamUrl(port, `${base}/ok`));
    assertEquals(ok.status, 200);
    assertEquals(await ok.text(), "final body");
    for (let i = 0; i < targets.length; i++) {
      const response = await fetch(streamUrl(port, `${base}/to?i=${i}`));
      const body = await response.json();
      assert(
        response.status === 403 || response.status === 400,
        `${targets[i]} -> ${response.status}`,
      );
      assert(["private_network", "allowlist_denied", "bad_request"].includes(body.error));
    }
    const chain = await fetch(streamUrl(port, `${base}/chain`));
    assertEquals(chain.status, 403);
    assertEquals((await chain.json()).error, "private_network");
    const loop = await fetch(streamUrl(port, `${base}/loop`));
    assertEquals(loop.status, 502);
    assertEquals((await loop.json()).error, "too_many_redirects");
    assertEquals(recorder.connections(), 0);
    // 1 initial request + 10 redirects followed, then refused.
    assertEquals(origin.requests.filter((r) => r.url.includes("/loop")).length, 11);
  } finally {
    await sprox.stop();
    await origin.close();
    recorder.close();
  }
});
