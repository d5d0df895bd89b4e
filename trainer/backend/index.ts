// The tensor engine: which TensorFlow.js backend runs, with how many threads, and the offline build
// of the native one.
export {
  describeBackend,
  initBackend,
  NODE_PACKAGES,
  type BackendChoice,
  type BackendInfo,
  type BackendName,
} from "./select.js";
export { matmulGflops } from "./matmul-rate.js";
export { planThreads, type ThreadPlan } from "./threads.js";
export {
  defaultCacheRoot,
  FLAVORS,
  nativeCacheDir,
  readManifest,
  TENSORFLOW_VERSION,
  type NativeFlavor,
} from "./native-cache.js";
export { setupNative, type SetupResult } from "./native-setup.js";
export { doctor, formatDoctor, type BackendProbe, type DoctorReport } from "./doctor.js";
