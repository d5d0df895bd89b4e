// The accepting end of the data plane. One listener per trainer process, created before the
// rendezvous so its address can be advertised, and kept across generations: every generation's
// Collective takes its inbound link from here. Connections are matched by (generation, from rank);
// connections from an older generation than the newest one claimed are refused, so a slow peer of
// a dead generation cannot feed bytes into the next one.
//
// Anyone who can reach the port can connect, so what a connection may cost is bounded before it
// has proved anything: its hello is read into a fixed 20 bytes (a wrong first byte, a byte too
// many or a hello that is not one is refused at once), it has HELLO_TIMEOUT_MS to send it, and at
// most MAX_HANDSHAKING connections may be in their hello and MAX_PENDING waiting to be claimed.
// A legitimate rank has one inbound link per generation, so these caps are far above real use.

import net from "node:net";
import { silentLogger, type Logger } from "../../common/log.js";
import { Ack, decodeHello, HELLO_BYTES, startsHello, type Hello } from "./handshake.js";
import { CollectiveError } from "./errors.js";

/** How long an unclaimed inbound connection is kept waiting for its generation to be claimed. */
const UNCLAIMED_TTL_MS = 60_000;
/** A dialer writes its hello as soon as it is connected; one this slow is not a ring peer. */
export const HELLO_TIMEOUT_MS = 10_000;
/** Connections still sending their hello. */
export const MAX_HANDSHAKING = 32;
/** Hellos accepted but not yet claimed by a rank's accept (its own and the next generations'). */
export const MAX_PENDING = 16;

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
  private handshaking = 0;
  private closed = false;
  /** Every socket accepted, so close() can end them and not wait on links someone forgot to close. */
  private readonly sockets = new Set<net.Socket>();
  readonly address: string;
  private readonly log: Logger;

  private constructor(server: net.Server, address: string, log: Logger) {
    this.server = server;
    this.address = address;
    this.log = log;
    server.on("connection", (socket) => this.onConnection(socket));
  }

  /**
   * Listens on host:port (default 0.0.0.0 and a free port). `address` is what peers should dial:
   * the host given, or, for a wildcard host, 127.0.0.1 (pass the pod IP as host across machines).
   * Refused connections are logged on `logger`.
   */
  static async listen(
    host = "0.0.0.0",
    port = 0,
    opts: { logger?: Logger } = {},
  ): Promise<CollectiveListener> {
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
    const log = (opts.logger ?? silentLogger).child({ component: "collective-listener" });
    return new CollectiveListener(server, `${shown}:${actual}`, log);
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
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("error", () => {}); // a reset before the hello is not this process's problem
    if (this.handshaking >= MAX_HANDSHAKING) {
      this.log.warn("collective_connection_refused", {
        peer,
        why: `${MAX_HANDSHAKING} connections are already sending their hello`,
      });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    this.handshaking++;
    const hello = Buffer.alloc(HELLO_BYTES);
    let have = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.handshaking--;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", finish);
    };
    const refuse = (why: string, ack: number = Ack.refused): void => {
      finish();
      this.log.warn("collective_connection_refused", { peer, why });
      socket.end(Buffer.from([ack]));
      socket.destroySoon();
    };
    const timer = setTimeout(
      () => refuse(`sent ${have} of ${HELLO_BYTES} hello bytes in ${HELLO_TIMEOUT_MS} ms`),
      HELLO_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      if (done) return;
      // The dialer sends nothing after its hello until it is answered: a byte more is no ring peer.
      if (have + chunk.length > HELLO_BYTES) {
        refuse(`sent ${have + chunk.length} bytes before its ${HELLO_BYTES}-byte hello was answered`);
        return;
      }
      chunk.copy(hello, have);
      have += chunk.length;
      if (!startsHello(hello.subarray(0, have))) {
        refuse("its first bytes are not a hello (not a radfleet collective peer)");
        return;
      }
      if (have < HELLO_BYTES) return;
      finish();
      // Paused until a RingLinks attaches its reader, so no early frame is dropped.
      socket.pause();
      this.onHello(socket, peer, decodeHello(hello));
    };
    socket.on("data", onData);
    socket.once("close", finish);
  }

  private onHello(socket: net.Socket, peer: string, hello: Hello | string): void {
    const refuse = (why: string, ack: number): void => {
      this.log.warn("collective_connection_refused", { peer, why });
      socket.end(Buffer.from([ack]));
    };
    if (typeof hello === "string") return refuse(`bad hello: ${hello}`, Ack.refused);
    if (this.closed) return refuse("the listener is closed", Ack.refused);
    if (hello.generation < this.newestGeneration) {
      return refuse(
        `rank ${hello.fromRank} dialed for generation ${hello.generation}, older than ${this.newestGeneration}`,
        Ack.staleGeneration,
      );
    }
    if (this.pending.length >= MAX_PENDING) {
      return refuse(
        `rank ${hello.fromRank} of generation ${hello.generation}: ${MAX_PENDING} connections already wait to be claimed`,
        Ack.busy,
      );
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
