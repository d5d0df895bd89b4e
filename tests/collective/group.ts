// Starts N worker processes (tests/collective/worker.ts) and talks to them over IPC.
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts");

export interface Reply {
  reply?: string;
  error?: { code: string; rank?: number; message: string; at: number };
  [k: string]: unknown;
}

export class WorkerProc {
  readonly child: ChildProcess;
  address = "";
  private inbox: Reply[] = [];
  private waiting: ((r: Reply) => void) | undefined;

  constructor() {
    this.child = fork(WORKER, [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: Reply) => {
      const w = this.waiting;
      if (w) {
        this.waiting = undefined;
        w(m);
      } else this.inbox.push(m);
    });
  }

  next(timeoutMs = 30_000): Promise<Reply> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`worker ${this.child.pid}: no message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onExit = (): void => reject(new Error(`worker ${this.child.pid} exited`));
      this.child.once("exit", onExit);
      this.waiting = (r) => {
        clearTimeout(t);
        this.child.off("exit", onExit);
        resolve(r);
      };
    });
  }

  async call(cmd: Record<string, unknown>, timeoutMs?: number): Promise<Reply> {
    this.child.send(cmd);
    return this.next(timeoutMs);
  }
}

export async function startWorkers(n: number): Promise<WorkerProc[]> {
  const ws = Array.from({ length: n }, () => new WorkerProc());
  for (const w of ws) w.address = String((await w.next()).address);
  return ws;
}

export async function connectAll(
  ws: WorkerProc[],
  generation: number,
  extra: { timeoutMs?: number; compression?: "none" | "fp16" } = {},
): Promise<void> {
  const peers = ws.map((w) => w.address);
  const replies = await Promise.all(
    ws.map((w, rank) =>
      w.call({
        cmd: "connect",
        rank,
        worldSize: ws.length,
        generation,
        peers,
        timeoutMs: extra.timeoutMs ?? 5000,
        compression: extra.compression ?? "none",
      }),
    ),
  );
  for (const r of replies) if (r.error) throw new Error(`connect failed: ${r.error.message}`);
}

export function stopWorkers(ws: WorkerProc[]): void {
  for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
}
