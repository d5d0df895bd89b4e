// Entry of every worker thread: registers the TypeScript loader (tsx) in the thread, as
// bin/radfleet.js does for the process, then imports the module named in workerData.module (a
// file: URL). That module reads the rest of workerData itself.
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";

register();
await import(workerData.module);
