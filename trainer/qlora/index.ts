// QLoRA: NF4 exactly as bitsandbytes stores it, LoRA linear layers for TensorFlow.js, safetensors
// (single and sharded), bitsandbytes' serialized 4-bit state, and Hugging Face PEFT adapter files.
export {
  NF4_CODEBOOK,
  quantizeNf4,
  dequantizeNf4,
  nf4BitsPerParameter,
  dynamicMap8bit,
  doubleQuantize,
  recoverAbsmax,
  type Nf4Tensor,
  type DoubleQuantState,
  type QuantizeOptions as Nf4QuantizeOptions,
} from "./nf4.js";
export { LoraLinear, type LoraConfig, type LoraLinearOptions } from "./lora-linear.js";
export {
  SafetensorsFile,
  SafetensorsError,
  MAX_HEADER_BYTES,
  encodeSafetensors,
  decodeSafetensors,
  writeSafetensors,
  toFloat32,
  fromFloat32,
  floatToHalf,
  halfToFloat,
  type DType,
  type TensorData,
  type TensorInfo,
} from "./safetensors.js";
export { ShardedCheckpoint, readIndex, SINGLE_FILE, INDEX_FILE } from "./sharded-checkpoint.js";
export {
  loadQuantizedLinear,
  nf4ToBnbTensors,
  isBnbStateKey,
  pythonFloatRepr,
  BNB_STATE_SUFFIX,
  type TorchFloatName,
} from "./bnb-format.js";
export {
  quantizeModelDir,
  DEFAULT_SKIP as QUANTIZE_DEFAULT_SKIP,
  type QuantizeSummary,
} from "./quantize-model-dir.js";
export {
  saveAdapter,
  loadAdapter,
  peftKey,
  peftSavedModuleKey,
  adapterConfigJson,
  parseAdapterConfig,
  type AdapterConfig,
} from "./peft.js";
