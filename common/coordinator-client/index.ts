// The worker-side client of the run coordinator, used by trainers and by `radfleet bench rendezvous`.
//
//   const c = await CoordinatorClient.connect({ address, runId, token, workerId, collectiveAddress, signal });
//   for (;;) {
//     const g = await c.join();                   // waits until the next generation closes
//     // g.rank, g.worldSize, g.peers (collective addresses in rank order), g.resumeFrom (committed or null)
//     // g.signal aborts the moment the generation ends (a worker was lost, joined or left; the
//     // coordinator restarted); its reason is a GenerationEndedError. Abandon the step and rejoin.
//     await c.barrier("loaded");                  // every member of g
//     // checkpoint at `step`: write each part durably, then
//     await c.reportCheckpointPart(step, { name, uri, size, sha256 });
//     const committed = await c.commitCheckpoint(step, namesThisRankWrote); // rank 0 also lists shared parts
//     void c.reportProgress({ step, loss, phase: "training" });
//   }
//   await c.leave("done"); await c.close();
//
// c.onGenerationEnded(cb) and c.onCheckpointCommitted(cb) deliver the same events as callbacks.
// Calls naming an ended generation fail with CoordinatorCallError code FAILED_PRECONDITION;
// calls waiting when it ends fail with ABORTED. Every wait has a deadline.
export { CoordinatorClient } from "./client.js";
export { CoordinatorCallError, GenerationEndedError } from "./errors.js";
export type { ClientTls, ConnectOptions } from "./options.js";
export type { CheckpointPartRecord, CommittedCheckpoint, Generation, GenerationEnd } from "./records.js";
export type { Progress, ProgressUpdate, TrainingPhase } from "../progress.js";
export { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "./keepalive.js";
