/**
 * A self-signed certificate made with the `openssl` CLI, for listeners in tests and benches.
 * @module
 */

/** Paths of a PEM certificate and its private key. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * Writes `cert.pem` and `key.pem` (P-256) for `127.0.0.1` into `dir`.
 *
 * @example
 * ```ts
 * const { cert, key } = await selfSignedCertificate(dir, { days: 30 });
 * ```
 */
export async function selfSignedCertificate(
  dir: string,
  options: { days?: number; commonName?: string } = {},
): Promise<CertificateFiles> {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      String(options.days ?? 2),
      "-subj",
      `/CN=${options.commonName ?? "127.0.0.1"}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return { cert, key };
}
