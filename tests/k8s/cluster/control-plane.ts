// A real Kubernetes control plane for tests, from binaries built by ../build-control-plane.sh:
// etcd, kube-apiserver (client-certificate auth, RBAC), kube-controller-manager (garbage
// collection, namespaces, service accounts), kube-scheduler, and kwok driving fake GPU nodes.
// Everything lives in a temporary directory and every process is stopped by its pid.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { existsSync, openSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { kubeClient } from "./kube-client.js";

const run = promisify(execFile);
export const K8S_VERSION = process.env.K8S_VERSION ?? "1.34.4";
const REPO = fileURLToPath(new URL("../../..", import.meta.url));

export interface ControlPlane {
  dir: string;
  bin: string;
  kubeconfig: string;
  server: string;
  /** etcd's client URL (tests compact it to provoke 410 Gone on watches). */
  etcd: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Builds the binaries when missing (minutes on a cold machine), returns their directory. */
export async function ensureBinaries(log: (s: string) => void = () => {}): Promise<string> {
  const cache = process.env.RADFLEET_K8S_CACHE ?? join(homedir(), ".cache", "radfleet");
  const bin = join(cache, `k8s-${K8S_VERSION}`);
  const need = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm"];
  if (need.every((b) => existsSync(join(bin, b))) && existsSync(join(bin, "VERSION"))) return bin;
  log(`building the control plane into ${bin} (first run only; many minutes)`);
  const t0 = Date.now();
  await run("bash", [join(REPO, "tests/k8s/build-control-plane.sh")], {
    env: { ...process.env, K8S_VERSION },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 3_600_000,
  });
  log(`control plane built in ${Math.round((Date.now() - t0) / 1000)}s`);
  return bin;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir, timeout: 30_000 });
}

async function makeCerts(dir: string): Promise<void> {
  const days = ["-days", "2"];
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    ...days,
    "-subj",
    "/CN=radfleet-test-ca",
  ]);
  const sign = async (name: string, subj: string, ext: string) => {
    await openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subj,
    ]);
    await writeFile(join(dir, `${name}.ext`), ext);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      ...days,
      "-extfile",
      `${name}.ext`,
    ]);
  };
  await sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
  );
  await sign("admin", "/O=system:masters/CN=radfleet-test-admin", "extendedKeyUsage=clientAuth\n");
  await openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
  await openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

function kubeconfigYaml(server: string, dir: string): string {
  return `apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority: ${join(dir, "ca.crt")}
users:
- name: admin
  user:
    client-certificate: ${join(dir, "admin.crt")}
    client-key: ${join(dir, "admin.key")}
contexts:
- name: test
  context: { cluster: test, user: admin, namespace: default }
`;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  procs: ChildProcess[],
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const dead = procs.find((p) => p.exitCode !== null);
    if (dead) throw new Error(`${what}: ${dead.spawnfile} exited with ${dead.exitCode}; see its log`);
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what}: not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface ControlPlaneOptions {
  log?: (s: string) => void;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const bin = await ensureBinaries(log);
  const dir = await mkdtemp(join(tmpdir(), "radfleet-k8s-"));
  const procs: ChildProcess[] = [];
  const start = (name: string, args: string[]) => {
    const out = openSync(join(dir, `${name}.log`), "a");
    const p = spawn(join(bin, name), args, { stdio: ["ignore", out, out], cwd: dir });
    procs.push(p);
    return p;
  };
  const stop = async () => {
    // Reverse start order, each by its own pid: SIGTERM, then SIGKILL after 5s.
    for (const p of [...procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    if (!process.env.RADFLEET_K8S_KEEP) await rm(dir, { recursive: true, force: true });
  };
  try {
    await makeCerts(dir);
    const [etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all(
      Array.from({ length: 6 }, freePort),
    );
    start("etcd", [
      "--data-dir",
      join(dir, "etcd"),
      "--listen-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-cluster",
      `default=http://127.0.0.1:${peerPort}`,
      // Test data: durability is not worth fsync latency on a shared disk.
      "--unsafe-no-fsync",
      "--log-level",
      "warn",
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    start("kube-apiserver", [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${join(dir, "apiserver.crt")}`,
      `--tls-private-key-file=${join(dir, "apiserver.key")}`,
      `--client-ca-file=${join(dir, "ca.crt")}`,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      "--v=1",
      ...(opts.apiserverArgs ?? []),
    ]);
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, kubeconfigYaml(server, dir));
    const client = kubeClient(kubeconfig);
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await client.raw("GET", "/readyz")).status === 200,
      120_000,
      procs,
    );
    start("kube-controller-manager", [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${join(dir, "sa.key")}`,
      `--root-ca-file=${join(dir, "ca.crt")}`,
      "--use-service-account-credentials=false",
      "--concurrent-gc-syncs=10",
    ]);
    start("kube-scheduler", [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${schedPort}`,
    ]);
    const stages = join(bin, "kwok-stages");
    const stageFiles = (await readdir(stages)).filter((f) => f.endsWith(".yaml")).map((f) => join(stages, f));
    start("kwok", [
      `--kubeconfig=${kubeconfig}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      `--server-address=127.0.0.1:${kwokPort}`,
      ...stageFiles.map((f) => `--config=${f}`),
    ]);
    log(`control plane up at ${server} (state in ${dir})`);
    return { dir, bin, kubeconfig, server, etcd: `http://127.0.0.1:${etcdPort}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
