// The progress contract between the coordinator (writer) and the Kubernetes controller's status
// (reader), with the real producer and the real consumer on a real nats-server: rank 0's reports,
// the run's generation, world size and newest committed checkpoint, and the latest evaluation reach
// `kubectl get trainingrun`'s PROGRESS / LOSS columns through the spec's KV bucket.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/log.js";
import { parseRunSpec } from "../../common/spec/index.js";
import { startCoordinator } from "../../controller/coordinator/index.js";
import { natsProgressReader } from "../../controller/k8s/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/ports.js";
import { closeAll, connectWorkers, ids, joinAll, TOKEN } from "./workers.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats.stop();
});

describe("run progress in NATS KV", () => {
  it("the coordinator writes what the controller's status reads, in the spec's bucket", async () => {
    const spec = parseRunSpec({ nats: { url: nats.url, kvBucket: "team-a-runs" } }).spec;
    const c = await startCoordinator({
      runId: "progress-run",
      token: TOKEN,
      minWorkers: 2,
      maxWorkers: 2,
      lastCallMs: 100,
      natsUrl: nats.url,
      natsBucket: spec.nats.kvBucket,
      address: "127.0.0.1:0",
      logger: silentLogger,
    });
    const clients = await connectWorkers(c.address, "progress-run", ids(2));
    const reader = natsProgressReader({ timeoutMs: 2000 });
    const read = () =>
      reader.read({ namespace: "ml", name: "progress-run" }, spec, AbortSignal.timeout(5000));
    try {
      const gens = await joinAll(clients);
      const rank0 = clients[gens.findIndex((g) => g.rank === 0)];
      const rank1 = clients[gens.findIndex((g) => g.rank === 1)];
      expect(await read()).toBeUndefined(); // nothing reported yet

      await Promise.all(
        clients.map(async (w, i) => {
          await w.reportCheckpointPart(4, {
            name: `part-${i}`,
            uri: `/ckpt/run/step-000000004/part-${i}`,
            size: 1,
            sha256: String(i).repeat(64),
          });
          await w.commitCheckpoint(4, [`part-${i}`]);
        }),
      );
      await rank0.reportProgress({
        step: 5,
        totalSteps: 20,
        loss: 1.25,
        phase: "evaluating",
        evaluation: { rougeL_rouge_score_f: 0.21 },
      });
      await rank0.reportProgress({ step: 6, totalSteps: 20, loss: 1.125, phase: "training" });
      // Rank 1 reports too (it never does in the trainer); it does not speak for the run.
      await rank1.reportProgress({ step: 99, totalSteps: 20, loss: 9 });

      let got = await read();
      await waitFor("rank 0's step 6 in KV", async () => (got = await read())?.step === 6);
      expect(got).toEqual({
        step: 6,
        totalSteps: 20,
        loss: 1.125,
        generation: 1,
        worldSize: 2,
        restarts: 0,
        lastCheckpoint: { step: 4, uri: "/ckpt/run/step-000000004", time: expect.any(String) as unknown },
        // the step-6 report carries no evaluation; the record keeps the latest one
        evaluation: { rougeL_rouge_score_f: 0.21 },
      });
      expect(Date.parse(got!.lastCheckpoint!.time)).toBeGreaterThan(Date.now() - 60_000);

      // The default bucket holds nothing for this run: the spec's bucket is used on both sides.
      const elsewhere = parseRunSpec({ nats: { url: nats.url } }).spec;
      expect(
        await reader.read({ namespace: "ml", name: "progress-run" }, elsewhere, AbortSignal.timeout(5000)),
      ).toBeUndefined();
    } finally {
      await reader.close();
      await closeAll(clients);
      await c.close();
    }
  });
});
