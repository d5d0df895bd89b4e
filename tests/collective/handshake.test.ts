// The dialer's side of the hello: an answer byte and the peer's first frames can arrive in one
// TCP read; the frames must be kept for the links, not rejected or dropped.
import net from "node:net";
import { describe, expect, it } from "vitest";
import { Ack, HELLO_BYTES, decodeHello, dialPeer } from "../../trainer/collective/handshake.js";

describe("collective hello", () => {
  it("keeps the bytes that arrive in the same read as the accepted answer", async () => {
    const frames = Buffer.from("first frames of the left neighbour");
    const server = net.createServer((socket) => {
      socket.once("data", (hello: Buffer) => {
        expect(hello.length).toBe(HELLO_BYTES);
        expect(decodeHello(hello)).toEqual({ generation: 7, fromRank: 1, worldSize: 2 });
        socket.write(Buffer.concat([Buffer.from([Ack.accepted]), frames])); // one write, one read
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const rs = await dialPeer(
      `127.0.0.1:${port}`,
      { generation: 7, fromRank: 1, worldSize: 2 },
      0,
      AbortSignal.timeout(5000),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(rs.early).toString()).toBe(frames.toString());
    rs.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
