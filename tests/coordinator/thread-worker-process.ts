// A trainer's coordination as a real child process, with its session on the coordination thread
// (trainer/train/coordination-thread.ts). Prints one JSON line per event on stdout and obeys
// commands on stdin, one per line:
//   block <ms>   keep the main thread busy for <ms> (as a long TensorFlow.js step does), then
//                print whether the generation ended meanwhile
//   join         join the next generation, print the placement
//   leave        leave, close and exit 0
import { createInterface } from "node:readline";
import { createLogger } from "../../common/log.js";
import { parseRunSpec } from "../../common/spec/index.js";
import { connectCoordinationThread } from "../../trainer/train/coordination-thread.js";
import type { GenerationInfo } from "../../trainer/train/coordination.js";

const [address, runId, token, workerId, stallTimeoutSeconds] = process.argv.slice(2);
const { spec } = parseRunSpec({
  rendezvous: { joinTimeoutSeconds: 20, stallTimeoutSeconds: Number(stallTimeoutSeconds) },
});
const out = (o: object): boolean => process.stdout.write(JSON.stringify(o) + "\n");
const coordination = await connectCoordinationThread({
  env: {
    runId,
    workerId,
    coordinator: address,
    token,
    specPath: "",
    runDir: "",
    metricsPort: 0,
    advertiseHost: "127.0.0.1",
  },
  spec,
  log: createLogger({ context: { workerId } }),
  collectiveAddress: `127.0.0.1:${10_000 + process.pid}`,
});

let g: GenerationInfo = await coordination.join();
out({ event: "joined", generation: g.generation, rank: g.rank, worldSize: g.worldSize });

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "block") {
    const until = Date.now() + Number(arg);
    while (Date.now() < until) {
      // busy, as a synchronous step is: no timers, no I/O callbacks on this thread
    }
    // Let messages that arrived from the coordination thread meanwhile be delivered.
    await new Promise((r) => setTimeout(r, 300));
    const reason: unknown = g.signal.reason;
    out({
      event: "unblocked",
      generation: g.generation,
      ended: g.signal.aborted,
      reason: reason instanceof Error ? reason.message : null,
    });
  } else if (cmd === "join") {
    g = await coordination.join();
    out({ event: "joined", generation: g.generation, rank: g.rank, worldSize: g.worldSize });
  } else if (cmd === "leave") {
    await coordination.leave("done");
    await coordination.close();
    out({ event: "left" });
    process.exit(0);
  }
}
