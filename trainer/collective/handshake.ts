// The first bytes on every data-plane connection. The dialing rank says who it is and which
// generation it belongs to; the accepting side answers with one status byte. Nothing else is sent
// until the answer arrives, so a connection from a stale generation never carries data.
//
// Hello (20 bytes, little endian): "RFCL" | u32 version | u32 generation | u32 from rank | u32 world size

import net from "node:net";
import { CollectiveError } from "./errors.js";

export const HELLO_BYTES = 20;
const MAGIC = 0x4c434652; // "RFCL" read as u32 LE
const VERSION = 1;

/** busy: the listener holds as many unanswered or unclaimed connections as it allows. */
export const Ack = { accepted: 1, staleGeneration: 2, refused: 3, busy: 4 } as const;

/** More ranks than this in a hello is not a radfleet ring (and would size per-rank arrays). */
export const MAX_WORLD_SIZE = 1 << 16;

export interface Hello {
  generation: number;
  fromRank: number;
  worldSize: number;
}

export function encodeHello(h: Hello): Buffer {
  const b = Buffer.allocUnsafe(HELLO_BYTES);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(VERSION, 4);
  b.writeUInt32LE(h.generation >>> 0, 8);
  b.writeUInt32LE(h.fromRank, 12);
  b.writeUInt32LE(h.worldSize, 16);
  return b;
}

/** Whether the first bytes of a connection can start a hello (checked before the rest arrives). */
export function startsHello(b: Uint8Array): boolean {
  const n = Math.min(b.length, 4);
  for (let i = 0; i < n; i++) if (b[i] !== ((MAGIC >>> (8 * i)) & 0xff)) return false;
  return true;
}

/** Parses a hello; returns a reason string when it is not one. */
export function decodeHello(b: Buffer): Hello | string {
  if (b.length !== HELLO_BYTES) return `expected ${HELLO_BYTES} bytes, got ${b.length}`;
  if (b.readUInt32LE(0) !== MAGIC) return "bad magic (not a radfleet collective peer)";
  const version = b.readUInt32LE(4);
  if (version !== VERSION) return `protocol version ${version}, this build speaks ${VERSION}`;
  const hello = {
    generation: b.readUInt32LE(8),
    fromRank: b.readUInt32LE(12),
    worldSize: b.readUInt32LE(16),
  };
  if (hello.worldSize < 1 || hello.worldSize > MAX_WORLD_SIZE)
    return `world size ${hello.worldSize}, expected 1 to ${MAX_WORLD_SIZE}`;
  if (hello.fromRank >= hello.worldSize) return `rank ${hello.fromRank} in a world of ${hello.worldSize}`;
  return hello;
}

export function parseAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  let host = address.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new CollectiveError("PROTOCOL", `peer address ${JSON.stringify(address)}: expected "host:port"`);
  }
  return { host, port };
}

/**
 * A dialed socket whose reads land in one reused buffer (`onread`): no Buffer per read, larger
 * reads, no garbage. `onChunk` sees each read's bytes and must consume them before returning.
 * Once `direct` is set, each read lands where `direct.target()` says instead (when it names a
 * place), and only its byte count goes to `direct.landed`.
 */
export interface ReadingSocket {
  socket: net.Socket;
  onChunk: (chunk: Uint8Array) => void;
  /** Bytes that arrived after the hello was accepted but before the links took over (copies). */
  early: Uint8Array[];
  /** Reading stopped because `early` is full; whoever takes the socket over resumes it. */
  paused?: boolean;
  direct?: { target(): Uint8Array | undefined; landed(n: number): void };
}

const READ_BUFFER_BYTES = 4 << 20;

/**
 * Early bytes kept before reading stops. The left neighbour may start its first operation while
 * this rank still waits for its other link (up to the connect timeout); what it sends beyond this
 * waits in TCP, not in this process.
 */
export const EARLY_BYTES_LIMIT = 16 << 20;

function connectOnce(host: string, port: number, signal: AbortSignal): Promise<ReadingSocket> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const rs: ReadingSocket = { socket: undefined as unknown as net.Socket, onChunk: () => {}, early: [] };
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        // Asked again after every read (Node's onread buffer function): where the next one lands.
        buffer: () => rs.direct?.target() ?? buffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          if (buf === buffer) rs.onChunk(buf.subarray(0, n));
          else rs.direct!.landed(n);
          return true;
        },
      },
    });
    rs.socket = socket;
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      resolve(rs);
    });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    });
  });
}

function readAck(rs: ReadingSocket, signal: AbortSignal): Promise<number> {
  const socket = rs.socket;
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      rs.onChunk = () => {};
      socket.off("close", onClose);
      signal.removeEventListener("abort", onAbort);
    };
    const onData = (chunk: Uint8Array): void => {
      cleanup();
      if (chunk.length === 0) {
        reject(new Error("empty answer to hello"));
        return;
      }
      // The peer may start sending frames right after its answer, and TCP can deliver both in one
      // read: the bytes after the answer byte are the first frames, kept for the links.
      if (chunk.length > 1) rs.early.push(Uint8Array.from(chunk.subarray(1)));
      resolve(chunk[0]);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("peer closed the connection before answering hello"));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason);
    };
    rs.onChunk = onData;
    socket.on("close", onClose);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Connects to `address` (the left neighbour: data flows towards the dialing end, which reads into
 * its own reused buffer), retrying refused connections until `signal` aborts (the caller's connect
 * deadline), and completes the hello. Returns the socket, ready to carry frames.
 */
export async function dialPeer(
  address: string,
  hello: Hello,
  toRank: number,
  signal: AbortSignal,
): Promise<ReadingSocket> {
  const { host, port } = parseAddress(address);
  let lastErr: unknown;
  while (!signal.aborted) {
    let rs: ReadingSocket;
    try {
      rs = await connectOnce(host, port, signal);
    } catch (err) {
      lastErr = err;
      if (signal.aborted) break;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const socket = rs.socket;
    socket.on("error", () => {}); // reported through "close" by the owner
    socket.write(encodeHello(hello));
    let ack: number;
    try {
      ack = await readAck(rs, signal);
    } catch (err) {
      socket.destroy();
      if (signal.aborted) break;
      throw new CollectiveError(
        "PEER_LOST",
        `rank ${toRank} at ${address}: ${(err as Error).message}`,
        toRank,
      );
    }
    if (ack === Ack.accepted) {
      // The left neighbour may start its first operation before this rank's other link is up.
      let kept = rs.early.reduce((n, c) => n + c.length, 0);
      const keep = (chunk: Uint8Array): void => {
        rs.early.push(Uint8Array.from(chunk));
        kept += chunk.length;
        if (kept >= EARLY_BYTES_LIMIT && !rs.paused) {
          rs.paused = true;
          socket.pause();
        }
      };
      rs.onChunk = keep;
      return rs;
    }
    socket.destroy();
    if (ack === Ack.busy) {
      // Others' connections fill the peer's slots for now: they expire, so try again until the deadline.
      lastErr = new Error(
        "the peer holds too many connections waiting to be claimed (is someone else dialing it?)",
      );
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const why =
      ack === Ack.staleGeneration
        ? `generation ${hello.generation} is older than the peer's; this rank must re-rendezvous`
        : `the peer refused rank ${hello.fromRank} (world size ${hello.worldSize}); rendezvous data disagree`;
    throw new CollectiveError("PROTOCOL", `rank ${toRank} at ${address}: ${why}`, toRank);
  }
  const reason = signal.reason instanceof CollectiveError ? signal.reason : undefined;
  if (reason) throw reason;
  throw new CollectiveError(
    "TIMEOUT",
    `could not connect to rank ${toRank} at ${address}: ${String((lastErr as Error | undefined)?.message ?? "no answer")}; check that the peer is up and the address is reachable`,
    toRank,
  );
}
