// The objects a run owns besides its pods (run-objects.ts, owned-meta.ts): what the pods rely on
// finding — the coordinator behind the headless service, the spec they parse from the ConfigMap,
// the token — and the owner reference that lets the garbage collector remove them with the run.
import { describe, expect, it } from "vitest";
import { parseRunSpec, parseRunSpecYaml } from "../../../common/spec/index.js";
import { ownedMeta, ownerReference, runLabels } from "../../../controller/k8s/owned-meta.js";
import { desiredTrainerPod } from "../../../controller/k8s/desired-pods.js";
import { desiredConfigMap, desiredSecret, desiredService } from "../../../controller/k8s/run-objects.js";
import {
  COORDINATOR_PORT,
  LABEL_ROLE,
  LABEL_RUN,
  METRICS_PORT,
  SPEC_FILE,
  type TrainingRunObject,
} from "../../../controller/k8s/index.js";

function makeRun(spec: Record<string, unknown> = {}): TrainingRunObject {
  return {
    apiVersion: "radfleet.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name: "r1", namespace: "ml", uid: "uid-1", generation: 1 },
    spec,
  };
}
const specOf = (run: TrainingRunObject) => parseRunSpec(run.spec).spec;

describe("owned metadata", () => {
  it("points at the TrainingRun as its controlling owner, blocking its deletion until cleaned up", () => {
    expect(ownerReference(makeRun())).toEqual({
      apiVersion: "radfleet.io/v1alpha1",
      kind: "TrainingRun",
      name: "r1",
      uid: "uid-1",
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it("labels every object with the run, and pods with their role too", () => {
    expect(runLabels(makeRun())).toEqual({
      [LABEL_RUN]: "r1",
      "app.kubernetes.io/managed-by": "radfleet-controller",
      "app.kubernetes.io/name": "radfleet",
    });
    expect(runLabels(makeRun(), "trainer")[LABEL_ROLE]).toBe("trainer");
    const meta = ownedMeta(makeRun(), "r1-spec");
    expect(meta).toMatchObject({ name: "r1-spec", namespace: "ml", labels: { [LABEL_RUN]: "r1" } });
    expect(meta.ownerReferences).toEqual([ownerReference(makeRun())]);
  });
});

describe("run objects", () => {
  it("a headless service selecting only the coordinator, published before it is ready", () => {
    const svc = desiredService(makeRun());
    expect(svc.metadata).toMatchObject({ name: "r1", namespace: "ml" });
    expect(svc.spec).toMatchObject({
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: { [LABEL_RUN]: "r1", [LABEL_ROLE]: "coordinator" },
    });
    expect(svc.spec!.ports!.map((p) => p.port)).toEqual([COORDINATOR_PORT, METRICS_PORT]);
  });

  it("a ConfigMap whose spec the pods parse back to the run's own spec", () => {
    const run = makeRun({ replicas: { min: 2, max: 3 }, training: { steps: 7 } });
    const spec = specOf(run);
    const cm = desiredConfigMap(run, spec);
    expect(cm.metadata!.name).toBe("r1-spec");
    // Only the decoded-image cache differs: the data set is read-only in a pod (next test).
    expect(parseRunSpecYaml(cm.data![SPEC_FILE]).spec).toEqual({
      ...spec,
      data: { ...spec.data, cacheDir: "/var/lib/radfleet/run/image-cache" },
    });
  });

  it("the decoded-image cache goes to the pod's writable run directory unless the spec names one", () => {
    // The data PVC is mounted read-only: the default cache, <data.path>/.cache, cannot be written.
    const run = makeRun({ scheduling: { dataVolumeClaim: "cxr" }, data: { path: "/var/lib/radfleet/data" } });
    const pod = desiredTrainerPod(run, specOf(run), 0, 0);
    const mounts = pod.spec!.containers[0].volumeMounts!;
    expect(mounts.find((m) => m.mountPath === "/var/lib/radfleet/data")?.readOnly).toBe(true);
    const runMount = mounts.find((m) => m.mountPath === "/var/lib/radfleet/run")!;
    expect(pod.spec!.volumes!.find((v) => v.name === runMount.name)?.emptyDir).toEqual({});
    expect(runMount.readOnly).toBeFalsy();
    const inPods = parseRunSpecYaml(desiredConfigMap(run, specOf(run)).data![SPEC_FILE]).spec;
    expect(inPods.data.cacheDir).toBe("/var/lib/radfleet/run/image-cache");
    const named = makeRun({ data: { cacheDir: "/scratch/cache" } });
    expect(parseRunSpecYaml(desiredConfigMap(named, specOf(named)).data![SPEC_FILE]).spec.data.cacheDir).toBe(
      "/scratch/cache",
    );
  });

  it("with a checkpoint volume, the pods' spec points the directory store at the mount", () => {
    const run = makeRun({
      scheduling: { checkpointVolumeClaim: "ckpt" },
      checkpoint: { store: { type: "directory", path: "/home/me/ckpt" } },
    });
    const inPods = parseRunSpecYaml(desiredConfigMap(run, specOf(run)).data![SPEC_FILE]).spec;
    expect(inPods.checkpoint.store.path).toBe("/var/lib/radfleet/checkpoints");
    // A NATS store is not a directory: nothing to remap.
    const nats = makeRun({
      scheduling: { checkpointVolumeClaim: "ckpt" },
      checkpoint: { store: { type: "nats" } },
      nats: { url: "nats://n:4222" },
    });
    const natsPods = parseRunSpecYaml(desiredConfigMap(nats, specOf(nats)).data![SPEC_FILE]).spec;
    expect(natsPods.checkpoint.store).toEqual(specOf(nats).checkpoint.store);
  });

  it("a Secret holding the run's token under the key the pods read", () => {
    const s = desiredSecret(makeRun(), "t0ken");
    expect(s.metadata!.name).toBe("r1-token");
    expect(s.type).toBe("Opaque");
    expect(s.stringData).toEqual({ token: "t0ken" });
  });
});
