// Session streams and heartbeats on their own (controller/coordinator/sessions.ts), on a fake
// clock: one session per worker, stale handles ignored, silent sessions reported.
import { afterEach, describe, expect, it } from "vitest";
import { CoordinatorError } from "../../controller/coordinator/errors.js";
import { Sessions, type SessionEventOut, type SessionSink } from "../../controller/coordinator/sessions.js";

class RecordingSink implements SessionSink {
  sent: SessionEventOut[] = [];
  closedWith: CoordinatorError | null = null;
  send(ev: SessionEventOut): void {
    this.sent.push(ev);
  }
  close(why: CoordinatorError): void {
    this.closedWith = why;
  }
}

let clock = 0;
let open: Sessions[] = [];
afterEach(() => {
  for (const s of open) s.close(new CoordinatorError("unavailable", "test over"));
  open = [];
});

function sessions(onSilent: (workerId: string, silentMs: number) => "continue" | "stop" = () => "continue") {
  const counts: number[] = [];
  const silent: [string, number][] = [];
  clock = 1_000;
  const s = new Sessions({
    heartbeatIntervalMs: 60_000, // the test sweeps by hand
    heartbeatTimeoutMs: 5_000,
    now: () => clock,
    onCountChanged: (n) => counts.push(n),
    onSilent: (workerId, silentMs) => {
      silent.push([workerId, silentMs]);
      return onSilent(workerId, silentMs);
    },
  });
  open.push(s);
  return { s, counts, silent };
}

describe("Sessions", () => {
  it("a second session of the same worker replaces the first, which is closed as aborted", () => {
    const { s, counts } = sessions();
    const first = new RecordingSink();
    const second = new RecordingSink();
    const a = s.open("w0", first);
    expect(a.replaced).toBe(false);
    const b = s.open("w0", second);
    expect(b).toEqual({ id: a.id + 1, replaced: true });
    expect(first.closedWith?.code).toBe("aborted");
    expect(first.closedWith?.message).toMatch(/replaced by a newer session of worker w0/);
    expect(second.closedWith).toBeNull();
    expect(counts).toEqual([1, 1]);
    // The replaced session's heartbeats and close no longer count.
    expect(s.heartbeat("w0", a.id)).toBeNull();
    expect(s.closed("w0", a.id)).toBe(false);
    expect(s.heartbeat("w0", b.id)).toBe(second);
  });

  it("reports sessions silent past the timeout, measured from their last heartbeat", () => {
    const { s, silent } = sessions();
    const a = s.open("a", new RecordingSink());
    s.open("b", new RecordingSink());
    clock += 4_000;
    s.heartbeat("a", a.id);
    clock += 1_500; // a: 1.5 s silent, b: 5.5 s
    s.sweep();
    expect(silent).toEqual([["b", 5_500]]);
    // onSilent decides; a session it does not drop is reported again.
    s.sweep();
    expect(silent).toHaveLength(2);
  });

  it("a sweep stops where onSilent says stop; the rest are reported by the next", () => {
    let stops = 1;
    const { s, silent } = sessions((workerId) => {
      s.drop(workerId, new CoordinatorError("deadline-exceeded", "silent"));
      return stops-- > 0 ? "stop" : "continue";
    });
    s.open("a", new RecordingSink());
    s.open("b", new RecordingSink());
    clock += 6_000;
    s.sweep();
    expect(silent.map(([w]) => w)).toEqual(["a"]);
    s.sweep();
    expect(silent.map(([w]) => w)).toEqual(["a", "b"]);
    expect(s.workerIds()).toEqual([]);
  });

  it("drop closes the stream with the reason; closed() removes without closing; send goes to the current sink", () => {
    const { s, counts } = sessions();
    const a = new RecordingSink();
    const b = new RecordingSink();
    s.open("a", a);
    const hb = s.open("b", b);
    s.send("a", { kind: "heartbeatAck", heartbeatAck: { generation: 3 } });
    s.send("nobody", { kind: "heartbeatAck", heartbeatAck: { generation: 3 } });
    expect(a.sent).toEqual([{ kind: "heartbeatAck", heartbeatAck: { generation: 3 } }]);
    s.drop("a", new CoordinatorError("deadline-exceeded", "no heartbeat"));
    expect(a.closedWith?.code).toBe("deadline-exceeded");
    expect(s.closed("b", hb.id)).toBe(true);
    expect(b.closedWith).toBeNull();
    expect(s.has("a") || s.has("b")).toBe(false);
    expect(counts).toEqual([1, 2, 1, 0]);
  });

  it("close ends every session with the reason", () => {
    const { s } = sessions();
    const a = new RecordingSink();
    s.open("a", a);
    s.close(new CoordinatorError("unavailable", "shut down"));
    expect(a.closedWith?.code).toBe("unavailable");
    expect(s.workerIds()).toEqual([]);
  });
});
