// `npm run setup:tensorflow [-- --gpu] [--force] [--strict]`: builds the native TensorFlow backend
// (trainer/backend/native-setup.ts). Without --strict a machine where it cannot be built gets one
// line saying why and how to fix it, and exit code 0: radfleet then runs on wasm.
import { resolve } from "node:path";
import { setupNative } from "../trainer/backend/index.js";

const argv = process.argv.slice(2);
const unknown = argv.filter((a) => !["--gpu", "--force", "--strict", "--quiet"].includes(a));
if (unknown.length || argv.includes("--help")) {
  console.error("usage: npm run setup:tensorflow [-- --gpu] [--force] [--strict] [--quiet]");
  process.exit(unknown.length ? 2 : 0);
}
const flavor = argv.includes("--gpu") ? "gpu" : "cpu";
const quiet = argv.includes("--quiet");
const result = await setupNative({
  flavor,
  projectRoot: resolve(import.meta.dirname, ".."),
  force: argv.includes("--force"),
  log: quiet ? undefined : (line) => console.error(`setup:tensorflow: ${line}`),
});
if (result.ok) {
  console.error(
    `setup:tensorflow: ${result.pkg} ready on libtensorflow ${result.tensorflowVersion} (${result.reused ? "cached" : "built"} in ${result.seconds.toFixed(1)} s; ${result.cacheDir})`,
  );
  if (flavor === "gpu")
    console.error(
      `setup:tensorflow: libtensorflow loads CUDA's libraries with dlopen: run trainers with LD_LIBRARY_PATH=${result.cacheDir}/lib`,
    );
} else {
  console.error(
    `setup:tensorflow: the native ${flavor === "gpu" ? "GPU " : ""}backend is not available: ${result.reason}. Fix: ${result.fix}. Until then radfleet runs on wasm.`,
  );
  if (argv.includes("--strict")) process.exit(1);
}
