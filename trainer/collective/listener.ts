// The accepting end of the data plane. One listener per trainer process, created before the
// rendezvous so its address can be advertised, and kept across generations: every generation's
// Collective takes its inbound link from here. Connections are matched by (generation, from rank);
// connections from an older generation than the newest one claimed are refused, so a slow peer of
// a dead generation cannot feed bytes into the next one.

import net from "node:net";
import { Ack, decodeHello, HELLO_BYTES, type Hello } from "./handshake.js";
import { CollectiveError } from "./errors.js";

/** How long an unclaimed inbound connection is kept waiting for its generation to be claimed. */
const UNCLAIMED_TTL_MS = 60_000;

interface Pending {
  hello: Hello;
  socket: net.Socket;
  timer: NodeJS.Timeout;
  onClose(): void;
}

interface Waiter {
  generation: number;
  fromRank: number;
  worldSize: number;
  resolve(socket: net.Socket): void;
  reject(err: Error): void;
}

export class CollectiveListener {
  private readonly server: net.Server;
  private newestGeneration = -1;
  private readonly pending: Pending[] = [];
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  /** Every socket accepted, so close() can end them and not wait on links someone forgot to close. */
  private readonly sockets = new Set<net.Socket>();
  readonly address: string;

  private constructor(server: net.Server, address: string) {
    this.server = server;
    this.address = address;
    server.on("connection", (socket) => this.onConnection(socket));
  }

  /**
   * Listens on host:port (default 0.0.0.0 and a free port). `address` is what peers should dial:
   * the host given, or, for a wildcard host, 127.0.0.1 (pass the pod IP as host across machines).
   */
  static async listen(host = "0.0.0.0", port = 0): Promise<CollectiveListener> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const actual = (server.address() as net.AddressInfo).port;
    const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    return new CollectiveListener(server, `${shown}:${actual}`);
  }

  /**
   * Waits for the connection that `fromRank` dials for `generation`. Claiming a generation makes
   * every older one stale. Resolves with the socket, hello answered; rejects when `signal` aborts.
   */
  accept(generation: number, fromRank: number, worldSize: number, signal: AbortSignal): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new CollectiveError("ABORTED", "collective listener is closed"));
    if (generation > this.newestGeneration) {
      this.newestGeneration = generation;
      for (const p of [...this.pending])
        if (p.hello.generation < generation) this.refuse(p, Ack.staleGeneration);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        generation,
        fromRank,
        worldSize,
        resolve: (s) => {
          signal.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal.reason);
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(waiter);
      this.match();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending]) this.refuse(p, Ack.refused);
    for (const w of [...this.waiters]) w.reject(new CollectiveError("ABORTED", "collective listener closed"));
    this.waiters.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private onConnection(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.on("error", () => {}); // a reset before the hello is not this process's problem
    const chunks: Buffer[] = [];
    let have = 0;
    const timer = setTimeout(() => socket.destroy(), UNCLAIMED_TTL_MS);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < HELLO_BYTES) return;
      socket.off("data", onData);
      // Paused until a RingLinks attaches its reader, so no early frame is dropped.
      socket.pause();
      clearTimeout(timer);
      // The dialer sends nothing after the hello until it is answered, so there are no extra bytes.
      const hello = decodeHello(Buffer.concat(chunks));
      if (typeof hello === "string" || have !== HELLO_BYTES) {
        socket.end(Buffer.from([Ack.refused]));
        socket.destroySoon();
        return;
      }
      if (this.closed) {
        socket.end(Buffer.from([Ack.refused]));
        return;
      }
      if (hello.generation < this.newestGeneration) {
        socket.end(Buffer.from([Ack.staleGeneration]));
        return;
      }
      const p: Pending = {
        hello,
        socket,
        timer: setTimeout(() => this.refuse(p, Ack.refused), UNCLAIMED_TTL_MS),
        onClose: () => this.drop(p),
      };
      socket.once("close", p.onClose);
      this.pending.push(p);
      this.match();
    };
    socket.on("data", onData);
  }

  private match(): void {
    for (const w of [...this.waiters]) {
      const i = this.pending.findIndex(
        (p) => p.hello.generation === w.generation && p.hello.fromRank === w.fromRank,
      );
      if (i < 0) continue;
      const p = this.pending[i];
      this.pending.splice(i, 1);
      clearTimeout(p.timer);
      p.socket.off("close", p.onClose);
      this.waiters.delete(w);
      if (p.hello.worldSize !== w.worldSize) {
        p.socket.end(Buffer.from([Ack.refused]));
        w.reject(
          new CollectiveError(
            "PROTOCOL",
            `rank ${p.hello.fromRank} dialed with world size ${p.hello.worldSize}, this rank has ${w.worldSize}: rendezvous data disagree`,
            p.hello.fromRank,
          ),
        );
        continue;
      }
      // The dialer sends nothing before this byte; the socket stays paused until its reader attaches.
      p.socket.write(Buffer.from([Ack.accepted]));
      w.resolve(p.socket);
    }
  }

  private refuse(p: Pending, ack: number): void {
    this.drop(p);
    p.socket.end(Buffer.from([ack]));
  }

  private drop(p: Pending): void {
    clearTimeout(p.timer);
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
  }
}
