import { describe, expect, it } from "vitest";
import {
  parseRunSpec,
  parseRunSpecYaml,
  runNameIssue,
  SpecError,
  runSpecSchema,
} from "../../common/spec/index.js";

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecError) return err.issues;
    throw err;
  }
  throw new Error("expected a SpecError");
}

describe("run spec", () => {
  it("fills every default into an empty spec", () => {
    const { spec } = parseRunSpec({});
    expect(spec.model.preset).toBe("tiny");
    expect(spec.model.quantization).toEqual({
      type: "nf4",
      blockSize: 64,
      doubleQuant: true,
      cacheDequantizedMiB: 1024,
    });
    expect(spec.model.lora.targetModules).toContain("q_proj");
    expect(spec.replicas).toEqual({ min: 1, max: 2 });
    expect(spec.checkpoint.store.type).toBe("directory");
    expect(spec.training.steps).toBeUndefined();
    expect(spec.nats.url).toBeUndefined();
    expect(spec.rendezvous).toMatchObject({ heartbeatTimeoutSeconds: 30, stallTimeoutSeconds: 600 });
  });

  it("reports three different mistakes together, each naming its field", () => {
    const issues = issuesOf(() =>
      parseRunSpecYaml(
        [
          "training:",
          "  batchSize: two",
          "model:",
          "  quantization:",
          "    type: nf5",
          "replicas:",
          "  min: 0",
        ].join("\n"),
      ),
    );
    expect(issues).toEqual([
      { path: "spec.model.quantization.type", message: 'expected one of nf4, none, got "nf5"' },
      { path: "spec.training.batchSize", message: 'expected an integer >= 1, got "two"' },
      { path: "spec.replicas.min", message: "expected an integer >= 1, got 0" },
    ]);
  });

  it("refuses unknown fields (typos) and cross-field contradictions", () => {
    const issues = issuesOf(() =>
      parseRunSpec({ training: { learningrate: 1e-3, steps: 10, epochs: 2 }, replicas: { min: 3, max: 2 } }),
    );
    expect(issues.map((i) => i.path)).toEqual(["spec.training.learningrate", "spec.replicas.min"]);
    const both = issuesOf(() => parseRunSpec({ training: { steps: 10, epochs: 2 } }));
    expect(both).toEqual([
      { path: "spec.training.epochs", message: "expected either steps or epochs, got both" },
    ]);
    const block = issuesOf(() => parseRunSpec({ model: { quantization: { blockSize: 96 } } }));
    expect(block[0].path).toBe("spec.model.quantization.blockSize");
  });

  it("defaults the decoding controls to Hugging Face generate's no-op values (but no_repeat_ngram_size 4) and checks each by name", () => {
    expect(parseRunSpec({}).spec.evaluation.generation).toEqual({
      maxNewTokens: 96,
      minNewTokens: 0,
      numBeams: 1,
      repetitionPenalty: 1,
      noRepeatNgramSize: 4,
      lengthPenalty: 1,
    });
    const generation = {
      minNewTokens: -1,
      noRepeatNgramSize: 1.5,
      lengthPenalty: "long",
      repetitionPenalty: 0.5,
    };
    expect(issuesOf(() => parseRunSpec({ evaluation: { generation } }))).toEqual([
      { path: "spec.evaluation.generation.minNewTokens", message: "expected an integer >= 0, got -1" },
      { path: "spec.evaluation.generation.repetitionPenalty", message: "expected a number >= 1, got 0.5" },
      { path: "spec.evaluation.generation.noRepeatNgramSize", message: "expected an integer >= 0, got 1.5" },
      { path: "spec.evaluation.generation.lengthPenalty", message: 'expected a number, got "long"' },
    ]);
    expect(
      issuesOf(() => parseRunSpec({ evaluation: { generation: { maxNewTokens: 8, minNewTokens: 9 } } })),
    ).toEqual([
      { path: "spec.evaluation.generation.minNewTokens", message: "expected <= maxNewTokens (8), got 9" },
    ]);
    const negative = parseRunSpec({ evaluation: { generation: { lengthPenalty: -0.5, numBeams: 4 } } });
    expect(negative.spec.evaluation.generation.lengthPenalty).toBe(-0.5);
  });

  it("accepts a whole TrainingRun manifest and checks its envelope", () => {
    const { name, spec } = parseRunSpec({
      apiVersion: "radfleet.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "cxr-multitask" },
      spec: { task: { clsWeight: 0 } },
    });
    expect(name).toBe("cxr-multitask");
    expect(spec.task.clsWeight).toBe(0);
    const issues = issuesOf(() =>
      parseRunSpec({ apiVersion: "v1", kind: "Pod", metadata: { name: "Bad_Name" } }),
    );
    expect(issues.map((i) => i.path)).toEqual(["kind", "apiVersion", "metadata.name"]);
  });

  it("a run name must be able to name its Service and label its pods (DNS-1035, at most 63)", () => {
    for (const ok of ["cxr", "cxr-2025", "a", "a".repeat(63)]) expect(runNameIssue(ok), ok).toBeUndefined();
    for (const bad of ["2025-cxr", "-cxr", "cxr-", "Cxr", "cxr.v2", "cxr_v2", "a".repeat(64), "", 7])
      expect(runNameIssue(bad), String(bad)).toMatch(/expected a DNS-1035 label/);
    const manifest = (name: string) => ({
      apiVersion: "radfleet.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name },
    });
    expect(issuesOf(() => parseRunSpec(manifest("2025-cxr")))).toEqual([
      {
        path: "metadata.name",
        message: expect.stringMatching(/a lowercase letter first.*got "2025-cxr"/) as unknown,
      },
    ]);
    expect(parseRunSpec(manifest("cxr-2025")).name).toBe("cxr-2025");
  });

  it("the llava-onevision presets need model.path: their weights are not shipped", () => {
    for (const preset of ["llava-onevision-qwen2-0.5b", "llava-onevision-qwen2-7b"]) {
      expect(issuesOf(() => parseRunSpec({ model: { preset } }))).toEqual([
        {
          path: "spec.model.path",
          message: expect.stringMatching(new RegExp(`required for preset ${preset}`)) as unknown,
        },
      ]);
      expect(parseRunSpec({ model: { preset, path: "/models/x" } }).spec.model.path).toBe("/models/x");
    }
    expect(parseRunSpec({ model: { preset: "small" } }).spec.model.path).toBeUndefined();
  });

  it("names list items and map entries in paths", () => {
    const issues = issuesOf(() =>
      parseRunSpec({
        model: { lora: { targetModules: ["q_proj", 7] } },
        scheduling: { nodeSelector: { gpu: 1 } },
      }),
    );
    expect(issues).toEqual([
      { path: "spec.model.lora.targetModules[1]", message: "expected a string, got 7" },
      { path: "spec.scheduling.nodeSelector.gpu", message: "expected a string, got 1" },
    ]);
  });

  it("refuses malformed YAML with the file named", () => {
    const issues = issuesOf(() => parseRunSpecYaml("training: [", "bad.yaml"));
    expect(issues[0].path).toBe("bad.yaml");
    expect(issues[0].message).toMatch(/not valid YAML/);
  });

  it("validates Kubernetes quantities", () => {
    expect(parseRunSpec({ resources: { memory: "16Gi", cpu: "500m" } }).spec.resources.memory).toBe("16Gi");
    const issues = issuesOf(() => parseRunSpec({ resources: { memory: "lots" } }));
    expect(issues[0].message).toMatch(/Kubernetes quantity/);
  });

  it("defaults in the OpenAPI schema equal the defaults the validator fills in", () => {
    const openapi = runSpecSchema.openapi() as {
      properties: Record<string, { properties: Record<string, { default?: unknown }> }>;
    };
    const { spec } = parseRunSpec({});
    expect(openapi.properties.training.properties.batchSize.default).toBe(spec.training.batchSize);
    expect(openapi.properties.checkpoint.properties.interval.default).toBe(spec.checkpoint.interval);
  });
});
