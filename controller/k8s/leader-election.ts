// Leader election on a coordination.k8s.io Lease, so two controller replicas never act at once.
// Acquire when the lease is free or expired; renew well before it expires; every write carries
// the resourceVersion read, so two candidates racing for an expired lease cannot both win.
import type { V1Lease, V1LeaseSpec } from "@kubernetes/client-node";
import type { Logger } from "../../common/log.js";
import { describeError, isConflict, type KubeApi } from "./kube-api.js";
import { sleep } from "./sleep.js";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the leader renews and a follower retries (default duration/3). */
  retryPeriodMs?: number;
  log: Logger;
}

export interface LeaderElector {
  /** Resolves when this replica holds the lease, or rejects when `signal` aborts. */
  acquire(signal: AbortSignal): Promise<void>;
  /** Aborted when the lease is lost after being held. */
  readonly lost: AbortSignal;
  /** Stops renewing and releases the lease so a standby takes over at once. */
  release(): Promise<void>;
}

/**
 * metav1.MicroTime wants exactly six fractional digits ("...05.000000Z"); a Date serializes with
 * three, which the API server rejects. Both transports serialize a Date through toISOString
 * (client-node's ObjectSerializer) or toJSON (JSON.stringify), so a Date that prints six works
 * with either, and stays a Date for the typed V1LeaseSpec.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
  }
  override toJSON(): string {
    return this.toISOString();
  }
}

export function microTime(d: Date | string | number): Date {
  return new MicroTime(d instanceof Date ? d.getTime() : d);
}

/** The lease's times as MicroTime again: client-node reads them back as plain Dates. */
function microSpec(spec: V1LeaseSpec): V1LeaseSpec {
  const out: V1LeaseSpec = { ...spec };
  if (spec.acquireTime) out.acquireTime = microTime(spec.acquireTime);
  if (spec.renewTime) out.renewTime = microTime(spec.renewTime);
  return out;
}

export function leaderElector(api: KubeApi, o: LeaderElectionOptions): LeaderElector {
  const duration = o.leaseDurationSeconds ?? 15;
  const retry = o.retryPeriodMs ?? Math.max(200, (duration * 1000) / 3);
  const lostCtl = new AbortController();
  const stopRenew = new AbortController();
  let held: V1Lease | undefined;
  let renewing: Promise<void> | undefined;

  const expired = (l: V1Lease, now: number) => {
    const t = l.spec?.renewTime ?? l.spec?.acquireTime;
    if (!t || !l.spec?.holderIdentity) return true;
    const ms = new Date(t).getTime() + (l.spec.leaseDurationSeconds ?? duration) * 1000;
    return now > ms;
  };

  const tryAcquire = async (): Promise<boolean> => {
    const now = new Date();
    const stamp = microTime(now);
    const cur = await api.getLease(o.namespace, o.name);
    const spec = {
      holderIdentity: o.identity,
      leaseDurationSeconds: duration,
      acquireTime: stamp,
      renewTime: stamp,
      leaseTransitions: 0,
    };
    try {
      if (!cur) {
        held = await api.createLease({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: o.name, namespace: o.namespace },
          spec,
        });
        return true;
      }
      const mine = cur.spec?.holderIdentity === o.identity;
      if (!mine && !expired(cur, now.getTime())) return false;
      held = await api.replaceLease({
        ...cur,
        spec: microSpec({
          ...spec,
          acquireTime: mine ? (cur.spec?.acquireTime ?? stamp) : stamp,
          leaseTransitions: (cur.spec?.leaseTransitions ?? 0) + (mine ? 0 : 1),
        }),
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  };

  const renewLoop = async () => {
    let lastOk = Date.now();
    while (!stopRenew.signal.aborted) {
      await sleep(retry, stopRenew.signal);
      if (stopRenew.signal.aborted) return;
      try {
        const cur = await api.getLease(o.namespace, o.name);
        if (!cur || cur.spec?.holderIdentity !== o.identity) throw new Error("lease taken by another holder");
        held = await api.replaceLease({ ...cur, spec: microSpec({ ...cur.spec, renewTime: new Date() }) });
        lastOk = Date.now();
      } catch (err) {
        o.log.warn("lease_renew_failed", { lease: o.name, error: describeError(err) });
        // Give up before the lease can expire under us, so no two leaders overlap.
        if (
          (err instanceof Error && err.message.includes("another holder")) ||
          Date.now() - lastOk > duration * 1000 * 0.66
        ) {
          o.log.error("leadership_lost", { lease: o.name, identity: o.identity });
          lostCtl.abort(new Error(`lease ${o.namespace}/${o.name} lost`));
          return;
        }
      }
    }
  };

  return {
    lost: lostCtl.signal,
    async acquire(signal) {
      let logged = false;
      for (;;) {
        if (signal.aborted) throw signal.reason ?? new Error("leader election aborted");
        try {
          if (await tryAcquire()) break;
          if (!logged) o.log.info("lease_held_by_other", { lease: o.name });
          logged = true;
        } catch (err) {
          o.log.warn("lease_acquire_failed", { lease: o.name, error: describeError(err) });
        }
        await sleep(retry, signal);
      }
      o.log.info("leadership_acquired", { lease: o.name, identity: o.identity });
      renewing = renewLoop();
    },
    async release() {
      stopRenew.abort();
      await renewing;
      if (!held || lostCtl.signal.aborted) return;
      try {
        const cur = await api.getLease(o.namespace, o.name);
        if (cur?.spec?.holderIdentity === o.identity) {
          // Back-date the renew time so a standby sees the lease as expired immediately.
          await api.replaceLease({
            ...cur,
            spec: microSpec({ ...cur.spec, renewTime: new Date(0), acquireTime: new Date(0) }),
          });
        }
      } catch (err) {
        o.log.warn("lease_release_failed", { lease: o.name, error: describeError(err) });
      }
    },
  };
}
