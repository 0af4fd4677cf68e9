/**
 * Test support for the shared key tier's tests: a tier whose lookups answer only when the test
 * releases them (for the interleavings a real Redis cannot be made to produce on demand).
 * @module
 */
import type { SharedKeyTier } from "./shared.ts";
import { SecretStore } from "./store.ts";

/** A tier holding values in a map; `get` answers only when the test releases it. */
export class HeldTier implements SharedKeyTier {
  values = new Map<string, Uint8Array>();
  gets = 0;
  puts = 0;
  failing = false;
  #held: (() => void)[] = [];

  /** Releases the oldest `get` waiting for its answer (read from the map as it was asked). */
  release(): void {
    this.#held.shift()?.();
  }
  #check(): void {
    if (this.failing) throw new Error("connection closed");
  }
  put(id: string, value: Uint8Array): Promise<boolean> {
    this.#check();
    this.puts++;
    const existed = this.values.has(id);
    this.values.set(id, value.slice());
    return Promise.resolve(existed);
  }
  putIfAbsent(id: string, value: Uint8Array): Promise<boolean> {
    this.#check();
    if (this.values.has(id)) return Promise.resolve(false);
    this.values.set(id, value.slice());
    return Promise.resolve(true);
  }
  get(id: string): Promise<{ value: Uint8Array; ttlMs: number } | undefined> {
    this.#check();
    this.gets++;
    const value = this.values.get(id)?.slice();
    return new Promise((resolve) => {
      this.#held.push(() => resolve(value && { value, ttlMs: 600_000 }));
    });
  }
  delete(id: string): Promise<boolean> {
    this.#check();
    return Promise.resolve(this.values.delete(id));
  }
  list(): Promise<{ id: string; ttlMs: number }[]> {
    return Promise.resolve([...this.values.keys()].map((id) => ({ id, ttlMs: 600_000 })));
  }
  connected = false;
  get ready(): boolean {
    return this.connected;
  }
  onReady(): () => void {
    return () => {};
  }
  onClose(): () => void {
    return () => {};
  }
  generation(): Promise<string> {
    return Promise.resolve("one");
  }
  close(): void {}
}

/** A 16-byte test key filled with `n`. */
export const keyBytes = (n: number): Uint8Array => new Uint8Array(16).fill(n);

/** A secret store over a {@linkcode HeldTier}, on a clock the test moves with `advance`. */
export function heldStore() {
  let now = 1_000_000;
  const tier = new HeldTier();
  const store = new SecretStore({
    defaultTtlSecs: 300,
    sweepIntervalMs: 0,
    now: () => now,
    shared: tier,
  });
  return { tier, store, shared: store.shared!, advance: (ms: number) => (now += ms) };
}
