// The replica check: every rank's parameter checksum, exchanged. Replicas update from the same
// all-reduced bits, so any difference is a bug or a silent corruption, and the run stops loudly.
import { allGatherText, type Collective } from "../../collective/index.js";
import type { FlatParams } from "../params.js";
import { TrainingFailure } from "./failure.js";

export async function verifyReplicas(
  collective: Collective,
  params: Pick<FlatParams, "checksum">,
  step: number,
): Promise<void> {
  const mine = params.checksum();
  const all = await allGatherText(collective, mine);
  if (all.some((c) => c !== mine)) {
    throw new TrainingFailure(`replicas diverged at step ${step}: parameter checksums ${all.join(", ")}`);
  }
}
