// The run spec: everything a training run is, in one definition. The CLI reads it from YAML, the
// controller reconciles it, and the TrainingRun CRD's OpenAPI schema is generated from it.
import {
  bool,
  freeform,
  int,
  list,
  num,
  object,
  oneOf,
  optional,
  parseOrThrow,
  record,
  str,
  type Infer,
  type SpecIssue,
} from "./schema.js";

const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const quantity = (def: string, description: string) =>
  str({
    default: def,
    pattern: QUANTITY,
    patternHint: "a Kubernetes quantity such as 2, 500m or 4Gi",
    description,
  });

export const LORA_TARGETS_DEFAULT = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
];

const MODEL_PATH_REQUIRED = (preset: string) =>
  `is required for preset ${preset}: its weights are not shipped; give the Hugging Face directory (e.g. llava-hf/${preset}-ov-hf) on a volume the trainers mount`;

const model = object(
  {
    preset: oneOf(["tiny", "small", "llava-onevision-qwen2-0.5b", "llava-onevision-qwen2-7b"] as const, {
      default: "tiny",
      description:
        "Built-in architecture; ignored for weights when `path` is set. tiny (0.4M parameters, 64 px) trains on a laptop; small (SigLIP-style 256-d x 4 layers at 128 px, Qwen2-style 512-d x 6 layers, ~20M) is large enough to measure the tensor engine; the llava-onevision presets need model.path.",
    }),
    init: oneOf(["pretrained", "random"] as const, {
      default: "pretrained",
      description:
        "pretrained: the weights at path (for preset tiny without a path, the shipped tiny base); random: a seeded random tiny or small model (tests, benchmarks, ablations from scratch).",
    }),
    path: optional(
      str({
        minLength: 1,
        description:
          "Hugging Face style model directory (config.json, safetensors, tokenizer.json). Unset: the shipped tiny base for preset tiny.",
      }),
    ),
    quantization: object({
      type: oneOf(["nf4", "none"] as const, {
        default: "nf4",
        description: "Storage of frozen base linear weights.",
      }),
      blockSize: int({ default: 64, min: 32, max: 4096, description: "NF4 block size (a power of two)." }),
      doubleQuant: bool({
        default: true,
        description: "Quantize the per-block absmax again (8-bit, blocks of 256).",
      }),
      cacheDequantizedMiB: int({
        default: 1024,
        min: 0,
        description:
          "NF4 layers keep a float32 copy of their weight (faster steps) until the copies reach this many MiB, in the model's layer order (vision tower first); the others dequantize on every use, forward and backward, holding only the 4-bit weight (a 7B base: all but the first 1 GiB of copies by default). 0: none kept.",
      }),
    }),
    lora: object({
      r: int({ default: 16, min: 1, max: 1024, description: "Adapter rank." }),
      alpha: num({
        default: 32,
        min: 0,
        exclusiveMin: true,
        description: "Scaling numerator: s = alpha/r (or alpha/sqrt(r)).",
      }),
      dropout: num({ default: 0.05, min: 0, max: 0.99, description: "Dropout on the adapter input." }),
      targetModules: list(str({ minLength: 1 }), {
        default: LORA_TARGETS_DEFAULT,
        minItems: 1,
        description: "Linear layer names (last path component) that get adapters.",
      }),
      rslora: bool({ default: false, description: "Rank-stabilised scaling alpha/sqrt(r)." }),
    }),
    head: object({
      pooling: oneOf(["image_tokens", "vision", "attention"] as const, {
        default: "vision",
        description:
          "Classifier input: the mean of the LM hidden states at image positions (image_tokens), the mean of the projected vision features (vision), or per label a learned query's attention over the LM hidden states at image positions (attention).",
      }),
    }),
  },
  {
    refine(v, path, issues) {
      if (v.preset.startsWith("llava-onevision") && v.path === undefined)
        issues.push({ path: `${path}.path`, message: MODEL_PATH_REQUIRED(v.preset) });
      const b = v.quantization.blockSize;
      if ((b & (b - 1)) !== 0)
        issues.push({ path: `${path}.quantization.blockSize`, message: `expected a power of two, got ${b}` });
    },
    cel: [
      {
        rule: "!self.preset.startsWith('llava-onevision') || has(self.path)",
        message:
          "model.path is required for the llava-onevision presets: their weights are not shipped; give the Hugging Face directory on a volume the trainers mount",
        fieldPath: ".path",
      },
    ],
  },
);

const data = object({
  format: oneOf(["synthetic", "mimic-cxr-jpg", "iu-xray"] as const, { default: "synthetic" }),
  path: str({ default: "data/synthetic", minLength: 1, description: "Data set root directory." }),
  imageSize: int({
    default: 64,
    min: 16,
    max: 2048,
    description: "Square input size in pixels (aspect kept, padded).",
  }),
  section: oneOf(["findings", "impression", "both"] as const, {
    default: "impression",
    description:
      "Report section(s) to learn. The impression states every positive finding once; a word-level tokenizer (the tiny base's) cannot mark where findings end, so with both the model cannot tell a restated finding from a repeated one.",
  }),
  maxReportTokens: int({
    default: 96,
    min: 8,
    max: 4096,
    description: "Report tokens kept per example (truncated beyond).",
  }),
  views: list(str({ minLength: 1 }), {
    default: ["PA", "AP"],
    minItems: 1,
    description: "MIMIC ViewPosition values kept.",
  }),
  cacheDir: optional(str({ minLength: 1, description: "Decoded image cache; default <path>/.cache." })),
  synthetic: object({
    studies: int({
      default: 800,
      min: 10,
      description: "Studies generated when the synthetic set is absent.",
    }),
    seed: int({ default: 7, min: 0 }),
    difficulty: oneOf(["easy", "hard"] as const, { default: "easy" }),
  }),
});

const task = object({
  clsWeight: num({
    default: 0.5,
    min: 0,
    description: "λ: weight of the 14-label BCE loss (0 = single-task).",
  }),
  uncertainLabels: oneOf(["ignore", "positive", "negative"] as const, {
    default: "ignore",
    description: "How -1 labels count in the classification loss (U-Ignore, U-Ones, U-Zeros).",
  }),
  findingsTable: oneOf(["none", "output", "prompt"] as const, {
    default: "none",
    description:
      "none: auxiliary head only; output: write predicted tables; prompt: condition the report on the table.",
  }),
  tableTeacherForcing: num({
    default: 0.5,
    min: 0,
    max: 1,
    description: "In prompt mode, probability that a training prompt carries the ground-truth table.",
  }),
});

const training = object(
  {
    steps: optional(
      int({
        min: 1,
        description: "Optimizer steps; exclusive with epochs. Default 900 when neither is set.",
      }),
    ),
    epochs: optional(int({ min: 1, description: "Passes over the training split; exclusive with steps." })),
    batchSize: int({ default: 4, min: 1, description: "Examples per worker per micro-batch." }),
    gradAccum: int({ default: 1, min: 1, description: "Micro-batches per optimizer step." }),
    learningRate: num({ default: 5e-3, min: 0, exclusiveMin: true }),
    schedule: oneOf(["constant", "linear", "cosine"] as const, { default: "cosine" }),
    warmupSteps: int({ default: 10, min: 0 }),
    weightDecay: num({ default: 0.01, min: 0 }),
    clipNorm: num({ default: 1.0, min: 0, description: "Global gradient norm clip (0 = off)." }),
    seed: int({ default: 1234, min: 0 }),
    verifyEvery: int({
      default: 25,
      min: 0,
      description: "Steps between cross-replica parameter checksums (0 = off).",
    }),
    maxNonFiniteSteps: int({
      default: 3,
      min: 1,
      description: "Consecutive skipped non-finite steps before the run fails.",
    }),
  },
  {
    refine(v, path, issues) {
      if (v.steps !== undefined && v.epochs !== undefined) {
        issues.push({ path: `${path}.epochs`, message: "expected either steps or epochs, got both" });
      }
    },
  },
);

const collective = object({
  bucketBytes: int({
    default: 64 * 1024 * 1024,
    min: 1024,
    description:
      "Gradients are fused into one buffer and all-reduced in buckets of at most this size, so no single operation grows with the model.",
  }),
  compression: oneOf(["none", "fp16"] as const, { default: "none" }),
  timeoutSeconds: num({
    default: 30,
    min: 0,
    exclusiveMin: true,
    description:
      "A stalled peer fails an operation after this long without data (a dead one at once); must exceed the slowest rank's step.",
  }),
});

const checkpoint = object({
  interval: int({
    default: 40,
    min: 1,
    description: "Steps between checkpoints (one is always written at the end).",
  }),
  keep: int({ default: 3, min: 1, description: "Committed checkpoints kept." }),
  store: object({
    type: oneOf(["directory", "nats"] as const, { default: "directory" }),
    path: optional(
      str({ minLength: 1, description: "Directory store root; default <run dir>/checkpoints." }),
    ),
    bucket: str({ default: "radfleet-checkpoints", minLength: 1, description: "NATS object store bucket." }),
  }),
});

const evaluation = object({
  interval: int({ default: 0, min: 0, description: "Steps between evaluations (0 = only at the end)." }),
  split: oneOf(["validate", "test"] as const, {
    default: "validate",
    description:
      "Split whose reports are generated and scored. Findings-table thresholds are always tuned on validate, so test keeps them unseen.",
  }),
  maxSamples: int({
    default: 64,
    min: 1,
    description: "Reports generated per evaluation (and used to tune table thresholds).",
  }),
  uncertain: oneOf(["positive", "negative"] as const, {
    default: "negative",
    description: "Uncertain labels in clinical metrics.",
  }),
  // Hugging Face generate's controls under its names in camelCase, with its semantics and its
  // no-op values as defaults (tests/model/decoding-parity.test.ts checks them against transformers),
  // except noRepeatNgramSize: 4, as report generators commonly block repeated n-grams (R2Gen blocks
  // trigrams); the tiny models otherwise restate a finding now and then (trainer/train/README.md).
  generation: object(
    {
      maxNewTokens: int({
        default: 96,
        min: 1,
        description: "Most tokens generated per report (max_new_tokens), capped at data.maxReportTokens + 1.",
      }),
      minNewTokens: int({
        default: 0,
        min: 0,
        description:
          "The end-of-sequence token is forbidden until this many tokens are generated (min_new_tokens).",
      }),
      numBeams: int({
        default: 1,
        min: 1,
        max: 16,
        description: "Beam width; 1 is greedy decoding (num_beams).",
      }),
      repetitionPenalty: num({
        default: 1.0,
        min: 1,
        description:
          "Divides a positive score (multiplies a negative one) of every token already in the sequence, prompt included; 1 is off (repetition_penalty).",
      }),
      noRepeatNgramSize: int({
        default: 4,
        min: 0,
        description:
          "Forbids any n-gram of this size from occurring twice in the sequence, prompt included; 0 is off (no_repeat_ngram_size).",
      }),
      lengthPenalty: num({
        default: 1.0,
        description:
          "Beam search only: a finished beam's score is its log-probability over (generated length) ** lengthPenalty; > 0 favours longer reports, < 0 shorter (length_penalty).",
      }),
    },
    {
      refine(v, path, issues) {
        if (v.minNewTokens > v.maxNewTokens)
          issues.push({
            path: `${path}.minNewTokens`,
            message: `expected <= maxNewTokens (${v.maxNewTokens}), got ${v.minNewTokens}`,
          });
      },
    },
  ),
});

const replicas = object(
  {
    min: int({ default: 1, min: 1, description: "Fewest workers a generation may run with." }),
    max: int({
      default: 2,
      min: 1,
      description: "Workers launched; a generation closes at once when all joined.",
    }),
  },
  {
    refine(v, path, issues) {
      if (v.min > v.max)
        issues.push({ path: `${path}.min`, message: `expected <= replicas.max (${v.max}), got ${v.min}` });
    },
  },
);

const rendezvous = object({
  joinTimeoutSeconds: num({ default: 120, min: 0, exclusiveMin: true }),
  lastCallSeconds: num({
    default: 3,
    min: 0,
    description: "Wait after min workers joined for more to arrive.",
  }),
  heartbeatIntervalSeconds: num({ default: 1, min: 0, exclusiveMin: true }),
  heartbeatTimeoutSeconds: num({
    default: 30,
    min: 0,
    exclusiveMin: true,
    description:
      "A worker silent this long is declared failed (a dead process at once, by its closed stream). Trainers heartbeat from their own thread, so long steps do not count against it.",
  }),
  stallTimeoutSeconds: num({
    default: 600,
    min: 0,
    exclusiveMin: true,
    description:
      "A trainer whose main thread has been busy this long without a break (a hung step) is ended (SIGKILL) and restarted like a crashed one. Must exceed the longest step or evaluation batch.",
  }),
});

const resources = object({
  gpusPerWorker: int({ default: 0, min: 0, description: "nvidia.com/gpu requested per trainer pod." }),
  cpu: quantity("1", "CPU request per trainer."),
  memory: quantity("2Gi", "Memory request per trainer."),
  threads: optional(
    int({
      min: 1,
      description:
        "Threads each trainer's tensor engine uses for one op (native tensorflow backend). Unset: on Kubernetes resources.cpu rounded up to whole cores; locally this machine's cores / workers.",
    }),
  ),
});

const restartPolicy = object({
  backoffLimit: int({
    default: 3,
    min: 0,
    description:
      "Worker restarts allowed over the whole run, all workers together (as a Kubernetes Job's backoffLimit), before the run fails.",
  }),
  initialBackoffSeconds: num({ default: 1, min: 0 }),
  maxBackoffSeconds: num({ default: 60, min: 0 }),
  maxStalledGenerations: int({
    default: 5,
    min: 0,
    description:
      "A trainer fails (and exits, to be restarted under backoffLimit) when this many generations in a row have ended under it without it completing a step: a peer or a bug that breaks every generation the same way. 0: no limit.",
  }),
});

const scheduling = object({
  image: str({
    default: "ghcr.io/radfleet/radfleet:0.1.0",
    minLength: 1,
    description: "Trainer container image.",
  }),
  nodeSelector: record(str(), { default: {} }),
  tolerations: freeform({ array: true, default: [] }),
  affinity: optional(freeform()),
  priorityClassName: optional(str({ minLength: 1 })),
  schedulerName: optional(str({ minLength: 1 })),
  queueName: optional(
    str({
      minLength: 1,
      description:
        "Queue that admits the run (deferring the gang timeout): a Kueue LocalQueue; with schedulerName volcano, the Volcano Queue.",
    }),
  ),
  gangTimeoutSeconds: num({
    default: 300,
    min: 0,
    exclusiveMin: true,
    description: "Time for min replicas to be scheduled.",
  }),
  dataVolumeClaim: optional(str({ minLength: 1 })),
  checkpointVolumeClaim: optional(str({ minLength: 1 })),
});

const nats = object({
  url: optional(str({ minLength: 1, description: "nats://host:port; unset runs without NATS." })),
  stream: str({ default: "RADFLEET_EVENTS", minLength: 1 }),
  kvBucket: str({ default: "radfleet-runs", minLength: 1 }),
});

export const runSpecSchema = object({
  model,
  data,
  task,
  training,
  collective,
  checkpoint,
  evaluation,
  replicas,
  rendezvous,
  resources,
  restartPolicy,
  scheduling,
  nats,
  backend: oneOf(["auto", "tensorflow", "wasm", "cpu"] as const, {
    default: "auto",
    description: "Tensor backend; auto picks tensorflow (tfjs-node-gpu) when installed, else wasm, else cpu.",
  }),
  suspend: bool({ default: false }),
  ttlSecondsAfterFinished: optional(int({ min: 0 })),
  activeDeadlineSeconds: optional(
    int({
      min: 1,
      description:
        "On Kubernetes, fail the run (DeadlineExceeded) once it has existed this long, as a Job's activeDeadlineSeconds.",
    }),
  ),
});

export type RunSpec = Infer<typeof runSpecSchema>;
export type { SpecIssue };

// The model's option types everywhere else (builder, network, LoRA layers) are these sections, so
// a field or a default is written once, above.
export type ModelOptions = RunSpec["model"];
export type QuantizationOptions = ModelOptions["quantization"];
export type LoraOptions = ModelOptions["lora"];
export type HeadOptions = ModelOptions["head"];
/** Decoding controls (Hugging Face generate's, camelCased). */
export type GenerationOptions = RunSpec["evaluation"]["generation"];

/** spec.model with every default filled in, read from the schema above (for callers that build a model without a run spec). */
export function modelDefaults(): ModelOptions {
  return parseOrThrow(model, {}, "spec.model");
}
