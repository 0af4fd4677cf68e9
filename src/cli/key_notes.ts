/**
 * Runtime keys as they travel from the first isolate to the worker isolates
 * (`server.workers` > 1), and how a worker applies them to its plan's secret store.
 * @module
 */
import type { SecretStore } from "../secrets/mod.ts";

/** A runtime key change as it travels to worker isolates (`value` null: removed). */
export interface KeyNote {
  readonly id: string;
  readonly value: Uint8Array | null;
  readonly ttlSecs: number | null;
}

/**
 * Applies one change the first isolate made: the copy is set (or removed) without telling
 * anyone again, wiped once stored, and with a shared tier it is served as it is for the hold
 * (Redis may not have the change yet; a lookup asking it now is void).
 */
export function applyKeyNote(secrets: SecretStore | undefined, note: KeyNote): void {
  const { id, value, ttlSecs } = note;
  if (value === null) secrets?.delete(id, { notify: false });
  else secrets?.set(id, value, { ttlSecs, source: "runtime", notify: false });
  value?.fill(0);
  secrets?.shared?.noteChange(id);
}

/**
 * Applies the whole set of runtime keys the first isolate holds (after a reload or a worker
 * restart): runtime keys not in it are removed, each in it is applied as one change.
 */
export function applyKeySet(secrets: SecretStore | undefined, notes: readonly KeyNote[]): void {
  const kept = new Set(notes.map((note) => note.id));
  for (const entry of secrets?.list() ?? []) {
    if (entry.source === "runtime" && !kept.has(entry.id)) {
      secrets!.delete(entry.id, { notify: false });
    }
  }
  for (const note of notes) applyKeyNote(secrets, note);
}

/**
 * What the first isolate sends a worker isolate that starts (or after a reload): the whole set
 * of runtime keys it holds (`keys`; the copies are wiped once posted), then the identifiers it
 * still owes Redis (`keys.owed`: the worker serves those as they are until written).
 */
export function sendKeySet(
  secrets: SecretStore,
  send: (kind: "keys" | "keys.owed", payload: unknown) => void,
): void {
  const now = secrets.now();
  const notes: KeyNote[] = secrets.list().filter((e) => e.source === "runtime").flatMap((e) => {
    const value = secrets.get(e.id);
    return value ? [{ id: e.id, value, ttlSecs: (e.expiresAt - now) / 1000 }] : [];
  });
  send("keys", notes);
  for (const note of notes) note.value?.fill(0);
  send("keys.owed", secrets.shared?.owed() ?? []);
}
