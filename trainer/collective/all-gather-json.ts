// All-gather of small values (a checksum, a step, per-report records) as UTF-8 text, one item per
// rank. The byte all-gather is the primitive; these spare every caller its own TextEncoder/JSON
// round trip. Every rank of a generation runs the same build and sends the same type, so a value is
// trusted to parse as what its sender serialised.
import type { Collective } from "./collective.js";

/** Every rank's string, indexed by rank. */
export async function allGatherText(collective: Collective, text: string): Promise<string[]> {
  const gathered = await collective.allGather(new TextEncoder().encode(text));
  const decoder = new TextDecoder();
  return gathered.map((bytes) => decoder.decode(bytes));
}

/** Every rank's value, indexed by rank, sent as JSON (so it must survive JSON.stringify). */
export async function allGatherJson<T>(collective: Collective, value: T): Promise<T[]> {
  const texts = await allGatherText(collective, JSON.stringify(value));
  return texts.map((text) => JSON.parse(text) as T);
}
