// All-gather of small values (a checksum, a step, per-report records) as UTF-8 text, one item per
// rank. The byte all-gather is the primitive; these spare every caller its own TextEncoder/JSON
// round trip. A peer's item is input from the network like any other: its size is bounded by the
// all-gather's item limit, and `check` turns what JSON.parse made of it into the caller's type or
// throws saying what is wrong, so nothing unchecked reaches the caller.
import type { Collective } from "./collective.js";
import { CollectiveError } from "./errors.js";

/** Every rank's string, indexed by rank. */
export async function allGatherText(collective: Collective, text: string): Promise<string[]> {
  const gathered = await collective.allGather(new TextEncoder().encode(text));
  const decoder = new TextDecoder();
  return gathered.map((bytes) => decoder.decode(bytes));
}

/**
 * Every rank's value, indexed by rank, sent as JSON (so it must survive JSON.stringify). `check`
 * validates each parsed item (this rank's too, so every rank sees the same result); a failure is a
 * PROTOCOL error naming the rank that sent the item.
 */
export async function allGatherJson<T>(
  collective: Collective,
  value: T,
  check: (v: unknown) => T,
): Promise<T[]> {
  const texts = await allGatherText(collective, JSON.stringify(value));
  return texts.map((text, rank) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CollectiveError(
        "PROTOCOL",
        `all-gather item of rank ${rank} is not JSON: ${(err as Error).message}`,
        rank,
      );
    }
    try {
      return check(parsed);
    } catch (err) {
      throw new CollectiveError(
        "PROTOCOL",
        `all-gather item of rank ${rank}: ${(err as Error).message}`,
        rank,
        {
          cause: err,
        },
      );
    }
  });
}
