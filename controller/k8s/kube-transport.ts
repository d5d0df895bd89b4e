// Picks the KubeApi transport: @kubernetes/client-node by default (1.x on Node 20; 2.x pulls in
// undici 8, which needs Node >= 22), or the built-in REST transport when asked for (`--transport
// rest`, RADFLEET_KUBE_TRANSPORT=rest) or, with `auto`, when client-node cannot run here. Decided
// from versions, not by trying: a failed import of undici leaves an uncaught error behind.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Logger } from "../../common/log.js";
import type { KubeApi } from "./kube-api.js";
import { loadKubeConnection } from "./kubeconfig.js";
import { restKubeApi } from "./rest-kube-api.js";

export type Transport = "auto" | "client-node" | "rest";
export const TRANSPORTS: readonly Transport[] = ["client-node", "rest", "auto"];
export const DEFAULT_TRANSPORT: Transport = "client-node";

export function parseTransport(text: string, source: string): Transport {
  const t = TRANSPORTS.find((x) => x === text);
  if (!t) throw new Error(`${source}: expected ${TRANSPORTS.join(", ")}; got ${JSON.stringify(text)}`);
  return t;
}

/** Why client-node cannot run here, or undefined when it can. */
export function clientNodeUnsupported(): string | undefined {
  let version: string;
  try {
    const main = createRequire(import.meta.url).resolve("@kubernetes/client-node");
    const pkg = JSON.parse(readFileSync(join(dirname(main), "..", "package.json"), "utf8")) as {
      version: string;
    };
    version = pkg.version;
  } catch (err) {
    return `@kubernetes/client-node not found: ${(err as Error).message}`;
  }
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  const libMajor = Number(version.split(".")[0]);
  if (libMajor >= 2 && nodeMajor < 22) {
    return `@kubernetes/client-node ${version} needs Node >= 22 (undici 8); this is Node ${process.versions.node}`;
  }
  return undefined;
}

export async function connectKubeApi(
  kubeconfig: string | undefined,
  transport: Transport,
  log: Logger,
): Promise<KubeApi> {
  const why = clientNodeUnsupported();
  if (transport === "client-node" && why)
    throw new Error(`transport client-node: ${why}; use --transport rest (or auto)`);
  if (transport === "client-node" || (transport === "auto" && !why)) {
    const m = await import("./client-node-api.js");
    log.info("kube_transport", { transport: "client-node" });
    return m.clientNodeApi(kubeconfig);
  }
  log.info("kube_transport", { transport: "rest", why: why ?? "requested" });
  return restKubeApi(loadKubeConnection(kubeconfig));
}
