/**
 * Manifest benchmarks (playlist rewrite throughput, DASH→HLS conversion time).
 * @module
 */

/** Runs the manifest benchmarks and returns markdown lines. */
export function runManifestBench(_quick: boolean): Promise<string[]> {
  return Promise.resolve(["Manifest benchmarks: not part of this build yet."]);
}
