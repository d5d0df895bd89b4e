export {
  NF4_CODEBOOK,
  quantizeNf4,
  dequantizeNf4,
  nf4BitsPerParameter,
  dynamicMap8bit,
  type Nf4Tensor,
  type DoubleQuantState,
} from "./nf4.js";
export { LoraLinear, type LoraConfig, type LoraLinearOptions } from "./lora-linear.js";
export {
  SafetensorsFile,
  SafetensorsError,
  encodeSafetensors,
  decodeSafetensors,
  writeSafetensors,
  toFloat32,
  type DType,
  type TensorData,
  type TensorInfo,
} from "./safetensors.js";
export {
  saveAdapter,
  loadAdapter,
  peftKey,
  peftSavedModuleKey,
  adapterConfigJson,
  type AdapterConfig,
} from "./peft.js";
