// The benchmark's baseline: the same ring traffic pattern as the all-reduce (every rank streams
// to its right neighbour while receiving from its left one), over plain TCP sockets with no
// framing, no reduction and no copies. Its per-link bandwidth is what busbw is compared with.
// It reads the way the collective does (dialing end, reads into one reused buffer), so the two
// differ only by what the collective adds on top of the socket.

import net from "node:net";
import { parseAddress } from "./handshake.js";

export class RawRing {
  private expected = 0;
  private wanted: { total: number; resolve(): void } | undefined;

  private constructor(
    private readonly toRight: net.Socket,
    private readonly fromLeft: net.Socket,
    /** Shared with the read callback, which counts from the first byte, before this object exists. */
    private readonly counter: { received: number; onBytes(): void },
  ) {
    counter.onBytes = () => this.onBytes();
    fromLeft.on("error", () => {});
    toRight.on("error", () => {});
  }

  /**
   * A server whose first inbound connection (from the right neighbour) becomes the send link.
   * `address` is what the neighbour should dial: `advertise` (a pod IP) with the port, or the host
   * bound (127.0.0.1 for a wildcard).
   */
  static async listen(
    host: string,
    advertise?: string,
  ): Promise<{ address: string; inbound: Promise<net.Socket>; server: net.Server }> {
    const server = net.createServer({ noDelay: true });
    const inbound = new Promise<net.Socket>((resolve) => server.once("connection", (s) => resolve(s)));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    const shown = advertise ?? (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host);
    return { address: `${shown.includes(":") ? `[${shown}]` : shown}:${port}`, inbound, server };
  }

  static async connect(
    leftAddress: string,
    inbound: Promise<net.Socket>,
    timeoutMs: number,
  ): Promise<RawRing> {
    const { host, port } = parseAddress(leftAddress);
    const counter = { received: 0, onBytes: (): void => {} };
    const fromLeft = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(
        {
          host,
          port,
          noDelay: true,
          onread: {
            buffer: Buffer.allocUnsafeSlow(4 << 20),
            callback: (n: number): boolean => {
              counter.received += n;
              counter.onBytes();
              return true;
            },
          },
        },
        () => {
          clearTimeout(timer);
          resolve(s);
        },
      );
      // Across machines a dial can hang for minutes on a dropped SYN: bound it.
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`raw baseline: could not connect to ${leftAddress} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const toRight = await Promise.race([
      inbound,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`raw baseline: right neighbour did not connect within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).catch((err: unknown) => {
      fromLeft.destroy();
      throw err;
    });
    clearTimeout(timer);
    return new RawRing(toRight, fromLeft, counter);
  }

  private get received(): number {
    return this.counter.received;
  }

  private onBytes(): void {
    if (this.wanted !== undefined && this.received >= this.wanted.total) {
      const w = this.wanted;
      this.wanted = undefined;
      w.resolve();
    }
  }

  /**
   * Sends `source` to the right, in 1 MiB writes, while receiving as many bytes from the left;
   * resolves when both are done. The source is as large as the all-reduce's buffer, so both read
   * their data from memory the same way (a small, cache-resident block would flatter the baseline).
   */
  async transfer(source: Buffer, timeoutMs: number): Promise<void> {
    const bytes = source.length;
    const block = 1 << 20;
    this.expected += bytes;
    const total = this.expected;
    const received = new Promise<void>((resolve, reject) => {
      if (this.received >= total) return resolve();
      const timer = setTimeout(() => {
        this.wanted = undefined;
        reject(new Error(`raw baseline: received ${this.received} of ${total} bytes within ${timeoutMs} ms`));
      }, timeoutMs);
      this.wanted = {
        total,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    for (let off = 0; off < bytes; off += block) {
      if (!this.toRight.write(source.subarray(off, Math.min(bytes, off + block)))) {
        await new Promise<void>((resolve) => this.toRight.once("drain", () => resolve()));
      }
    }
    await received;
  }

  close(): void {
    this.toRight.destroy();
    this.fromLeft.destroy();
  }
}
