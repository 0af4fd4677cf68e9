/**
 * The SSRF guard against a running server: hostile destinations in every notation, names
 * that resolve to non-public addresses (through the static `hosts` map, the resolver the
 * server consults before DNS) and redirect chains from an allowed origin into loopback.
 * The allowlist admits every one of these destinations, so only the guard can refuse them:
 * each must be exactly 403 `private_network`, and a recorder listening on the loopback port
 * the probes aim at proves that no connection was made.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";
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

/** The host an allowlist rule must name to admit `d` (brackets and a final dot dropped). */
function hostOf(d: string): string {
  return new URL(d).hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

/**
 * An allowlist that admits every probe it can name (so only the guard can refuse it), the hosts map, one
 * attempt and a short timeout (so a guard that lets a probe through fails fast, not slowly).
 */
function guardConfig(port: number, admitted: readonly string[]): string {
  // Local names are refused by name, whatever they resolve to: here, a public address.
  const local = { "localhost": ["93.184.216.34"], "a.b.localhost": ["93.184.216.34"] };
  const hosts = Object.entries({ ...HOSTS, ...local }).map(([name, list]) =>
    `    "${name}": [${list.map((a) => `"${a}"`).join(", ")}]`
  ).join("\n");
  // IPv6 literals cannot be allowlisted; the guard classifies literals before the allowlist,
  // so for them the exact reason (private_network, not allowlist_denied) shows who refused.
  const literals = [...new Set(admitted.map(hostOf))].filter((h) => !h.includes(":")).map((
    host,
  ) => `    - { domain: "${host}", schemes: [http, https] }`).join("\n");
  return directConfig(
    port,
    `direct_stream:
  request_timeout_ms: 1500
  retry: { max_attempts: 1 }
  allowlist:
    - { domain: "*.test", schemes: [http, https] }
    - { domain: "localhost", schemes: [http, https] }
    - { domain: "*.localhost", schemes: [http, https] }
${literals}
  hosts:
${hosts}
`,
  );
}

/** Non-public destinations; `P` is replaced by the recorder's port. */
const NON_PUBLIC: readonly string[] = [
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
];

/** Destinations refused before the guard, with the exact status, reason and message. */
const REFUSED_OTHERWISE: readonly [string, number, string, string][] = [
  ["file:///etc/passwd", 400, "bad_request", "d must be an absolute http(s) URL"],
  ["gopher://127.0.0.1:P/", 400, "bad_request", "d must be an absolute http(s) URL"],
  ["ftp://loop.test:P/", 400, "bad_request", "d must be an absolute http(s) URL"],
  ["http://[fe80::1%25lo]:P/", 400, "bad_request", "d must be an absolute http(s) URL"],
  ["http://[::1:P/", 400, "bad_request", "d must be an absolute http(s) URL"],
  ["//127.0.0.1:P/", 400, "bad_request", "d must be an absolute http(s) URL"],
  [
    "http://user:pass@loop.test:P/",
    400,
    "bad_request",
    "d must not carry credentials (userinfo)",
  ],
  [
    "http://loop.test@127.0.0.1:P/",
    400,
    "bad_request",
    "d must not carry credentials (userinfo)",
  ],
  ["http://public.example:P/", 403, "allowlist_denied", "destination is not allowlisted"],
];

const PRIVATE_NETWORK = {
  error: "private_network",
  message: "destination resolves to a non-public address",
};

/** Fetches `/proxy/stream?d=...`; returns status and the JSON body with its request id checked. */
async function probe(port: number, d: string): Promise<string> {
  const response = await fetch(streamUrl(port, d), { signal: deadline() });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return `${response.status} ${text}`;
  }
  // The request id in the body is the one the response carries: drop it after checking.
  const id = response.headers.get("x-request-id");
  const { request_id: requestId, ...rest } = body;
  const idNote = requestId === id && typeof id === "string" && id.length > 0 ? "" : " (bad id)";
  return `${response.status} ${JSON.stringify(rest)}${idNote}`;
}

Deno.test("the guard alone refuses every non-public destination: 403 private_network, no connection", async () => {
  const recorder = startRecorder();
  const port = freePort();
  const probes = NON_PUBLIC.map((t) => t.replaceAll(":P", `:${recorder.port}`));
  const sprox = await startSprox(guardConfig(port, probes));
  try {
    const expected = `403 ${JSON.stringify(PRIVATE_NETWORK)}`;
    const failures: string[] = [];
    for (const d of probes) {
      const got = await probe(port, d);
      if (got !== expected) failures.push(`${d} -> ${got}`);
    }
    assertEquals(failures, []);
    assert(NON_PUBLIC.length >= 60, `only ${NON_PUBLIC.length} probes`);
    assertEquals(recorder.connections(), 0, "a probe reached the loopback recorder");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: deadline(),
    })).text();
    assert(
      metrics.includes(
        `\nsprox_direct_requests_total{outcome="private_network"} ${probes.length}\n`,
      ),
      metrics.split("\n").filter((l) => l.startsWith("sprox_direct_requests_total")).join("\n"),
    );
  } finally {
    await sprox.stop();
    recorder.close();
  }
});

Deno.test("malformed, credentialed, non-http and unlisted destinations: exact refusals", async () => {
  const recorder = startRecorder();
  const port = freePort();
  const sprox = await startSprox(guardConfig(port, []));
  try {
    const failures: string[] = [];
    for (const [template, status, error, message] of REFUSED_OTHERWISE) {
      const d = template.replaceAll(":P", `:${recorder.port}`);
      const got = await probe(port, d);
      const want = `${status} ${JSON.stringify({ error, message })}`;
      if (got !== want) failures.push(`${d} -> ${got}, want ${want}`);
    }
    assertEquals(failures, []);
    assertEquals(recorder.connections(), 0, "a probe reached the loopback recorder");
  } finally {
    await sprox.stop();
    recorder.close();
  }
});

Deno.test("rejects a redirect into loopback at every hop", async () => {
  const recorder = startRecorder();
  // Each target with the exact refusal; the allowlist admits the loopback ones, so only the
  // guard stands between the redirect and the recorder.
  const targets: [string, string][] = [
    [`http://127.0.0.1:${recorder.port}/`, "403 private_network"],
    [`http://localhost:${recorder.port}/`, "403 private_network"],
    [`http://[::ffff:127.0.0.1]:${recorder.port}/`, "403 private_network"],
    [`http://2130706433:${recorder.port}/`, "403 private_network"],
    [`http://loop.test:${recorder.port}/`, "403 private_network"],
    [`http://mapped.test:${recorder.port}/`, "403 private_network"],
    [`http://elsewhere.example/`, "403 allowlist_denied"],
    [`file:///etc/passwd`, "403 allowlist_denied"],
  ];
  let originPort = 0;
  const origin = startOrigin((request) => {
    const url = new URL(request.url);
    const hop = Number(url.searchParams.get("hop") ?? "0");
    if (url.pathname === "/to") {
      return new Response(null, {
        status: 302,
        headers: { location: targets[Number(url.searchParams.get("i"))][0] },
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
  request_timeout_ms: 1500
  retry: { max_attempts: 1 }
  allowlist:
    - { domain: "origin.test", schemes: [http] }
    - { domain: "loop.test", schemes: [http] }
    - { domain: "mapped.test", schemes: [http] }
    - { domain: "localhost", schemes: [http] }
    - { domain: "127.0.0.1", schemes: [http] }
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
    const ok = await fetch(streamUrl(port, `${base}/ok`), { signal: deadline() });
    assertEquals(ok.status, 200);
    assertEquals(await ok.text(), "final body");
    const got: [string, string][] = [];
    for (let i = 0; i < targets.length; i++) {
      const response = await fetch(streamUrl(port, `${base}/to?i=${i}`), { signal: deadline() });
      got.push([targets[i][0], `${response.status} ${(await response.json()).error}`]);
    }
    assertEquals(got, targets);
    const chain = await fetch(streamUrl(port, `${base}/chain`), { signal: deadline() });
    assertEquals(chain.status, 403);
    assertEquals((await chain.json()).error, "private_network");
    const loop = await fetch(streamUrl(port, `${base}/loop`), { signal: deadline() });
    assertEquals(loop.status, 502);
    assertEquals((await loop.json()).error, "too_many_redirects");
    assertEquals(recorder.connections(), 0);
    // 1 initial request + 10 redirects followed, then refused.
    assertEquals(origin.requests.filter((r) => r.url.includes("/loop")).length, 11);
  } finally {
    await sprox.stop();
    await withTimeout(origin.close(), 10_000, "the origin to shut down");
    recorder.close();
  }
});
