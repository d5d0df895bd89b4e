// Adapts the gRPC coordinator client to the recipe's Coordination interface. The trainer runs it on
// its own thread (coordination-thread.ts); it works the same on the main thread.
import type { Logger } from "../../common/log.js";
import { CoordinatorClient, type CommittedCheckpoint } from "../../common/coordinator-client/index.js";
import type { RunSpec } from "../../common/spec/index.js";
import type { TrainerEnv } from "../../common/trainer-env.js";
import type { CheckpointRef, Coordination, GenerationInfo } from "./coordination.js";

function toRef(c: CommittedCheckpoint): CheckpointRef {
  return {
    step: c.step,
    generation: c.generation,
    parts: c.parts.map((p) => ({ name: p.name, uri: p.uri, size: p.size, sha256: p.sha256 })),
  };
}

export async function connectCoordination(o: {
  env: TrainerEnv;
  spec: RunSpec;
  log: Logger;
  collectiveAddress: string;
  /** Passed to the client: false stops heartbeats (see ConnectOptions.alive). */
  alive?: () => boolean;
}): Promise<Coordination> {
  const client = await CoordinatorClient.connect({
    address: o.env.coordinator,
    runId: o.env.runId,
    token: o.env.token,
    workerId: o.env.workerId,
    collectiveAddress: o.collectiveAddress,
    connectTimeoutMs: o.spec.rendezvous.joinTimeoutSeconds * 1000,
    alive: o.alive,
  });
  let rank = -1;
  return {
    async join(): Promise<GenerationInfo> {
      const g = await client.join({ timeoutMs: o.spec.rendezvous.joinTimeoutSeconds * 1000 });
      rank = g.rank;
      return {
        generation: g.generation,
        rank: g.rank,
        worldSize: g.worldSize,
        peers: g.peers,
        resumeFrom: g.resumeFrom ? toRef(g.resumeFrom) : null,
        signal: g.signal,
      };
    },
    async commitCheckpoint(_generation, step, parts) {
      for (const p of parts) await client.reportCheckpointPart(step, p);
      await client.commitCheckpoint(
        step,
        parts.map((p) => p.name),
      );
    },
    async abandonCheckpoint(_generation, step, partNames) {
      await client.commitCheckpoint(step, partNames).then(
        () => o.log.error("checkpoint_abandon_committed", { step }), // cannot happen: the parts were never reported
        () => o.log.warn("checkpoint_abandoned", { step }),
      );
    },
    async committedCheckpoints() {
      const all = await client.listCheckpoints();
      return all.map(toRef).sort((a, b) => b.step - a.step);
    },
    reportProgress(p) {
      if (rank !== 0) return;
      client.reportProgress(p).catch((err: unknown) => o.log.debug("progress_report_failed", { err }));
    },
    leave: (reason, message) => client.leave(reason, message),
    close: () => client.close(),
  };
}
