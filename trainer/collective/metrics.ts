// Collective metrics, registered on the trainer's registry (or a private one when none is given).

import { counter, histogram, newRegistry, type Registry } from "../../common/metrics.js";

export interface CollectiveMetrics {
  observeAllReduce(seconds: number, compression: string): void;
  sent(bytes: number): void;
  received(bytes: number): void;
  bucket(): void;
}

export function collectiveMetrics(reg: Registry = newRegistry()): CollectiveMetrics {
  const duration = histogram(reg, {
    name: "radfleet_collective_allreduce_duration_seconds",
    help: "Wall time of one all-reduce (one fusion bucket or one tensor), from call to result.",
    labelNames: ["compression"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const sent = counter(reg, {
    name: "radfleet_collective_sent_bytes_total",
    help: "Bytes this rank sent on collective data-plane links (frame headers included).",
  });
  const received = counter(reg, {
    name: "radfleet_collective_received_bytes_total",
    help: "Bytes this rank received on collective data-plane links.",
  });
  const buckets = counter(reg, {
    name: "radfleet_collective_buckets_total",
    help: "Fusion buckets all-reduced by allReduceMany.",
  });
  return {
    observeAllReduce: (s, compression) => duration.observe({ compression }, s),
    sent: (b) => sent.inc(b),
    received: (b) => received.inc(b),
    bucket: () => buckets.inc(),
  };
}
