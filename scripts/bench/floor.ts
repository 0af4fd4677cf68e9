/**
 * The floor of our stack: a bare `Deno.serve` + `fetch` pass-through with no logic at all.
 * Usage: deno run -A scripts/bench/floor.ts <port> <origin> [certFile keyFile]
 * @module
 */
const [port, origin, certFile, keyFile] = Deno.args;
const tls = certFile
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : {};

Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {}, ...tls }, async (req) => {
  const url = new URL(req.url);
  const headers = new Headers();
  for (const name of ["range", "if-none-match", "if-modified-since", "accept"]) {
    const value = req.headers.get(name);
    if (value) headers.set(name, value);
  }
  const upstream = await fetch(origin + url.pathname + url.search, {
    method: req.method,
    headers,
  });
  return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
});
console.log("ready");
