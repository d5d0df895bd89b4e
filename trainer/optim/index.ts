// The optimizer: AdamW, gradient clipping and the learning-rate schedule, in plain float32
// JavaScript on the all-reduced gradients, so replicas stay bitwise identical whatever the tensor
// backend. The checkpoint part persists its state; the training loop drives it.
export {
  ADAMW_DEFAULTS,
  adamwStep,
  allFinite,
  clipByGlobalNorm,
  globalNorm,
  newAdamWState,
  type AdamWOptions,
  type AdamWState,
} from "./adamw.js";
export { learningRate, type ScheduleOptions } from "./schedule.js";
