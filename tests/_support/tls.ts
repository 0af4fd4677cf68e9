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
 * Writes `cert.pem` and `key.pem` (P-256) into `dir`, for `127.0.0.1` unless another common
 * name and subject alternative name are given; `leaf` marks it as no CA (webpki insists on that
 * when a self-signed certificate is trusted directly as an end entity).
 *
 * @example
 * ```ts
 * const { cert, key } = await selfSignedCertificate(dir, { days: 30 });
 * ```
 */
export async function selfSignedCertificate(
  dir: string,
  options: { days?: number; commonName?: string; subjectAltName?: string; leaf?: boolean } = {},
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
      `subjectAltName=${options.subjectAltName ?? "IP:127.0.0.1"}`,
      ...(options.leaf ? ["-addext", "basicConstraints=critical,CA:FALSE"] : []),
    ],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return { cert, key };
}
