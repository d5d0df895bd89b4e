// Starts a real nats-server (JetStream on, a temporary store, free ports) for a test. stop() kills
// it; restart() starts it again on the same port with the same store, so JetStream streams and KV
// buckets survive, as they would across a real server restart. Tests must call stop() (afterAll).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, waitFor } from "./ports.js";

export interface NatsServer {
  url: string;
  port: number;
  /** Kills the server and removes its store. */
  stop(): Promise<void>;
  /** Kills the server, keeping its store (to test an outage); start() brings it back. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** kill() then start(). */
  restart(): Promise<void>;
}

const BINARY = process.env.NATS_SERVER_BIN ?? "nats-server";

export async function startNatsServer(): Promise<NatsServer> {
  const storeDir = mkdtempSync(path.join(tmpdir(), "radfleet-nats-"));
  const port = await freePort();
  const monitorPort = await freePort();
  let child: ChildProcess | null = null;
  let stderr = "";

  const start = async (): Promise<void> => {
    stderr = "";
    const p = spawn(
      BINARY,
      ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort)],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    child = p;
    p.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let exited = false;
    p.once("exit", () => {
      exited = true;
    });
    await waitFor(
      `nats-server on port ${port} (JetStream healthy)`,
      async () => {
        if (exited) throw new Error(`nats-server exited: ${stderr}`);
        const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`);
        return res.ok;
      },
      15_000,
      50,
    );
  };

  const kill = async (): Promise<void> => {
    const p = child;
    child = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill("SIGKILL"), 3_000);
      p.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
      p.kill("SIGTERM");
    });
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
    kill,
    start,
    restart: async () => {
      await kill();
      await start();
    },
  };
}
