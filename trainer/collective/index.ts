// Public surface of the collective: ring all-reduce, broadcast, all-gather and barrier between
// trainer processes over a plain TCP data plane.
export { Collective, type CollectiveOptions } from "./collective.js";
export { CollectiveListener } from "./listener.js";
export { CollectiveError, isCollectiveError, type CollectiveErrorCode } from "./errors.js";
export { roundToF16 } from "./fp16.js";
export { bucketViews } from "./buckets.js";
export { allGatherJson, allGatherText } from "./all-gather-json.js";
export { allReduceTensors, broadcastTensors } from "./tensors.js";
export { RawRing } from "./raw-stream.js";
