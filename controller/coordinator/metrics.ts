// The coordinator's Prometheus metrics. Labelled by run id only (bounded: one per run served).
import { counter, gauge, histogram, type Registry } from "../../common/metrics.js";

export interface CoordinatorMetrics {
  workersAlive: ReturnType<typeof gauge<"run">>;
  generation: ReturnType<typeof gauge<"run">>;
  rendezvousDuration: ReturnType<typeof histogram<"run">>;
  failuresDetected: ReturnType<typeof counter<"run" | "cause">>;
  checkpointCommitDuration: ReturnType<typeof histogram<"run">>;
  checkpointsCommitted: ReturnType<typeof counter<"run">>;
  eventsDropped: ReturnType<typeof counter<"run">>;
}

export function coordinatorMetrics(reg: Registry): CoordinatorMetrics {
  return {
    workersAlive: gauge(reg, {
      name: "radfleet_coordinator_workers_alive",
      help: "Workers with an open session stream",
      labelNames: ["run"],
    }),
    generation: gauge(reg, {
      name: "radfleet_coordinator_generation",
      help: "Number of the newest rendezvous generation",
      labelNames: ["run"],
    }),
    rendezvousDuration: histogram(reg, {
      name: "radfleet_coordinator_rendezvous_duration_seconds",
      help: "From the first join of a round until its generation closed",
      labelNames: ["run"],
    }),
    failuresDetected: counter(reg, {
      name: "radfleet_coordinator_failures_detected_total",
      help: "Members declared failed (cause: stream_closed or heartbeat_missed)",
      labelNames: ["run", "cause"],
    }),
    checkpointCommitDuration: histogram(reg, {
      name: "radfleet_coordinator_checkpoint_commit_duration_seconds",
      help: "From the first part reported until the manifest was committed",
      labelNames: ["run"],
    }),
    checkpointsCommitted: counter(reg, {
      name: "radfleet_coordinator_checkpoints_committed_total",
      help: "Checkpoint manifests committed",
      labelNames: ["run"],
    }),
    eventsDropped: counter(reg, {
      name: "radfleet_coordinator_events_dropped_total",
      help: "Run events not published because NATS was unreachable",
      labelNames: ["run"],
    }),
  };
}
