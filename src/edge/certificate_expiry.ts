/**
 * The TLS certificate expiry gauge: at each scrape, the not-after time of the certificate
 * file each TLS listener serves (read again, so a rotated certificate shows at once).
 * @module
 */
import { X509Certificate } from "node:crypto";
import { log, tlsCertificateExpiry } from "../telemetry/mod.ts";

/** What the gauge needs of a listener. */
export interface CertificateSource {
  readonly key: string;
  readonly tls: { readonly enabled: boolean; readonly certificatePath: string | null };
}

/**
 * The not-after time of the first certificate of a PEM bundle (the leaf); `undefined`
 * when the text holds no parsable certificate.
 *
 * @example
 * ```ts
 * certificateNotAfter(await Deno.readTextFile("var/tls/cert.pem"))?.toISOString();
 * ```
 */
export function certificateNotAfter(pem: string): Date | undefined {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match) return undefined;
  try {
    const date = new X509Certificate(match[0]).validToDate;
    return Number.isNaN(date.getTime()) ? undefined : date;
  } catch {
    return undefined;
  }
}

/** Sets the gauge from the listeners' certificate files (unreadable ones are left out). */
export async function refreshCertificateExpiry(
  listeners: Iterable<CertificateSource>,
): Promise<void> {
  const readings: [string, number][] = [];
  for (const listener of listeners) {
    if (!listener.tls.enabled || !listener.tls.certificatePath) continue;
    try {
      const notAfter = certificateNotAfter(await Deno.readTextFile(listener.tls.certificatePath));
      if (notAfter) readings.push([listener.key, notAfter.getTime() / 1000]);
    } catch (error) {
      log("warn", "cannot read certificate for the expiry gauge", {
        listener: listener.key,
        error: (error as Error).name,
      });
    }
  }
  tlsCertificateExpiry.reset();
  for (const [listener, seconds] of readings) tlsCertificateExpiry.labels(listener).set(seconds);
}
