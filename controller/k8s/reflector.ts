// List, then watch from the list's resourceVersion, as client-go's reflector does: every object
// is seen once from the list, every change after it from the watch, with no gap between them.
// The watch resumes from the last resourceVersion seen (bookmarks keep it fresh on quiet
// collections); when the server answers 410 Gone (the version was compacted away) it lists
// again. The controller is level-triggered, so a re-list that replays every object is harmless.
import type { Logger } from "../../common/log.js";
import { describeError, isStatus, type KubeApi, type WatchEvent, type WatchTarget } from "./kube-api.js";
import { sleep } from "./sleep.js";

export type ObjectHandler = (type: WatchEvent | "LISTED", obj: unknown) => void;

export interface ReflectorOptions {
  /** Server-side watch timeout; each watch gets a random extra up to the same again. */
  watchTimeoutSeconds?: number;
  /** Start watching from this version instead of listing first (tests use it to force a 410). */
  initialResourceVersion?: string;
  /** Called after each list with the number of objects (metrics, logs, tests). */
  onList?: (count: number, resourceVersion: string) => void;
}

function resourceVersionOf(obj: unknown): string | undefined {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
  return typeof rv === "string" && rv !== "" ? rv : undefined;
}

/** Runs until `signal` aborts; never throws (errors are logged and retried with back-off). */
export async function reflect(
  api: KubeApi,
  target: WatchTarget,
  onObject: ObjectHandler,
  signal: AbortSignal,
  log: Logger,
  opts: ReflectorOptions = {},
): Promise<void> {
  const base = opts.watchTimeoutSeconds ?? 300;
  let rv = opts.initialResourceVersion;
  let failures = 0;
  const what = `${target.resource}${target.namespace ? ` in ${target.namespace}` : ""}`;
  while (!signal.aborted) {
    if (rv === undefined) {
      try {
        const l = await api.list(target);
        for (const item of l.items) onObject("LISTED", item);
        rv = l.resourceVersion || "0";
        opts.onList?.(l.items.length, l.resourceVersion);
        failures = 0;
      } catch (err) {
        failures += 1;
        log.warn("list_failed", { resource: what, attempt: failures, error: describeError(err) });
        await sleep(Math.min(100 * 2 ** failures, 10_000), signal);
        continue;
      }
    }
    // Spread the re-opens of many watches; the client-side deadline catches a dead connection
    // that the server-side timeout cannot end.
    const timeoutSeconds = Math.round(base * (1 + Math.random()));
    const openedAt = Date.now();
    const err = await new Promise<unknown>((resolve) => {
      let ctl: AbortController | undefined;
      const stop = () => ctl?.abort();
      const deadline = setTimeout(stop, (timeoutSeconds + 30) * 1000);
      const finish = (e: unknown) => {
        clearTimeout(deadline);
        signal.removeEventListener("abort", stop);
        resolve(e);
      };
      signal.addEventListener("abort", stop, { once: true });
      api
        .watch(
          target,
          { resourceVersion: rv, timeoutSeconds },
          (type, obj) => {
            rv = resourceVersionOf(obj) ?? rv;
            failures = 0;
            if (type !== "BOOKMARK") onObject(type, obj);
          },
          finish,
        )
        .then((c) => {
          ctl = c;
          if (signal.aborted) c.abort();
        }, finish);
    });
    if (signal.aborted) return;
    if (isStatus(err, 410)) {
      log.info("watch_expired", { resource: what, resourceVersion: rv ?? "", action: "relist" });
      rv = undefined;
      continue;
    }
    if (err) {
      failures += 1;
      log.warn("watch_closed", { resource: what, attempt: failures, error: describeError(err) });
      // A watch failing over and over may be stuck on a version the server rejects: list afresh.
      if (failures >= 5) rv = undefined;
      await sleep(Math.min(100 * 2 ** failures, 10_000), signal);
    } else if (Date.now() - openedAt < 1000) {
      await sleep(1000, signal); // closed at once without an error: do not spin
    }
  }
}
