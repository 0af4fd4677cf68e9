/**
 * What the secret store and its shared tier say about an entry, and what the shared tier
 * reads and writes of the store it backs.
 * @module
 */

/** One identifier held by the store, without its value. */
export interface SecretEntryInfo {
  readonly id: string;
  /** Milliseconds (store clock) at which the entry expires; `Infinity` for never. */
  readonly expiresAt: number;
  /** Where the entry came from: `config` (the file and environment) or `runtime` (admin API). */
  readonly source: string;
}

/** The operations of the local store the shared tier uses (the store satisfies it). */
export interface HeldKeys {
  info(id: string): SecretEntryInfo | undefined;
  get(id: string): Uint8Array | undefined;
  set(
    id: string,
    value: Uint8Array,
    options?: { ttlSecs?: number | null; source?: string; notify?: boolean },
  ): void;
  delete(id: string, options?: { notify?: boolean }): boolean;
  list(prefix?: string): SecretEntryInfo[];
  now(): number;
}
