export {
  runSpecSchema,
  LORA_TARGETS_DEFAULT,
  modelDefaults,
  type RunSpec,
  type ModelOptions,
  type QuantizationOptions,
  type LoraOptions,
  type HeadOptions,
  type GenerationOptions,
} from "./run-spec.js";
export { SpecError, type SpecIssue } from "./schema.js";
export {
  parseRunSpec,
  parseRunSpecYaml,
  loadRunSpecFile,
  resolvedSpecYaml,
  runNameIssue,
  RUN_NAME_CEL,
  type LoadedSpec,
} from "./load.js";
export {
  trainingRunCrd,
  trainingRunCrdYaml,
  statusSchema,
  CRD_GROUP,
  CRD_VERSION,
  CRD_KIND,
  CRD_PLURAL,
  RUN_PHASES,
  CONDITION_TYPES,
  type RunPhase,
} from "./crd.js";
