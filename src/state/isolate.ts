/**
 * Rate-limit buckets held by the first isolate of this process and reached by message from
 * the other worker isolates (`server.workers`), so that one limit holds across every
 * isolate serving the same ports. Without Redis this is the process's single bucket table.
 * @module
 */
import type { BucketStore, RateLimitDecision, RateLimitSettings } from "./buckets.ts";

/** Asks the isolate holding the buckets to spend one token of `key`'s bucket. */
export type BucketRequest = (key: string) => Promise<RateLimitDecision>;

let host: BucketRequest | null = null;

/**
 * Makes every bucket store this isolate builds from now on ask `request` instead of holding
 * buckets itself (called once, when a worker isolate starts).
 *
 * @example
 * ```ts
 * shareBucketsThrough((key) => channel.request("bucket.take", key));
 * ```
 */
export function shareBucketsThrough(request: BucketRequest | null): void {
  host = request;
}

/** A bucket store answered by the isolate holding the buckets. */
export class IsolateBucketStore implements BucketStore {
  readonly settings: RateLimitSettings;
  #request: BucketRequest;

  constructor(settings: RateLimitSettings, request: BucketRequest) {
    this.settings = settings;
    this.#request = request;
  }

  take(key: string): Promise<RateLimitDecision> {
    return this.#request(key);
  }

  close(): void {}
}

/** The store of a worker isolate (buckets held elsewhere), or `null` in the first isolate. */
export function isolateBucketStore(settings: RateLimitSettings): IsolateBucketStore | null {
  return host ? new IsolateBucketStore(settings, host) : null;
}
