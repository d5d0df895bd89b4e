// A worker as a real child process: connects, joins, prints its placement as one JSON line on
// stdout, then keeps its session open until it is killed (or told to leave via stdin closing).
import { CoordinatorClient } from "../../common/coordinator-client/index.js";

const [address, runId, token, workerId] = process.argv.slice(2);
const client = await CoordinatorClient.connect({
  address,
  runId,
  token,
  workerId,
  collectiveAddress: `127.0.0.1:${10_000 + process.pid}`,
  connectTimeoutMs: 10_000,
});
const g = await client.join({ timeoutMs: 30_000 });
process.stdout.write(
  JSON.stringify({ workerId, generation: g.generation, rank: g.rank, worldSize: g.worldSize }) + "\n",
);
// Stay alive, heartbeating, until the test kills this process; a safety exit so nothing lingers.
setTimeout(() => process.exit(3), 60_000);
