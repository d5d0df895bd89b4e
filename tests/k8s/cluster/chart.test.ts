// The Helm chart: lint, render, alert rules through promtool, and a real `helm install` whose
// objects (CRD, RBAC, ServiceMonitor, PodMonitor, PrometheusRule, dashboard) the API server
// accepts. The controller then runs with the chart's ServiceAccount token: the RBAC suffices.
import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import YAML from "yaml";
import { K8S_VERSION } from "./control-plane.js";
import { kubeClient } from "./kube-client.js";
import { namespace, trainingRun } from "./fixtures.js";
import {
  eventually,
  getRun,
  installPodGroupCrd,
  startControllerProc,
  type ControllerProc,
} from "./helpers.js";

const exec = promisify(execFile);
const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const CHART = join(REPO, "charts/radfleet");
const kubeconfig = inject("kubeconfig");
const helm = join(inject("k8sBin"), "helm");
const kube = kubeClient(kubeconfig);
const procs: ControllerProc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop();
});

describe("Helm chart", () => {
  it("passes helm lint and renders the monitoring objects when the operator API is present", async () => {
    const lint = await exec(helm, ["lint", CHART, "--strict", "--kube-version", K8S_VERSION]);
    expect(lint.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const bad = await exec(helm, ["lint", CHART, "--set", "controller.workers=0"]).catch(
      (e: { stdout: string }) => e,
    );
    expect(String((bad as { stdout: string }).stdout)).toMatch(/workers/);
    const { stdout } = await exec(helm, [
      "template",
      "t",
      CHART,
      "--kube-version",
      K8S_VERSION,
      "--api-versions",
      "monitoring.coreos.com/v1",
    ]);
    const kinds = YAML.parseAllDocuments(stdout)
      .map((d) => (d.toJS() as { kind: string } | null)?.kind)
      .filter(Boolean);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ConfigMap",
        "Deployment",
        "ClusterRole",
      ]),
    );
    const plain = await exec(helm, ["template", "t", CHART, "--kube-version", K8S_VERSION]);
    expect(plain.stdout).not.toMatch(/kind: PrometheusRule/);
    expect(plain.stdout).not.toMatch(/--default-nats-url/);
    // The chart's nats.url reaches the controller, which gives it to runs that name no NATS.
    const withNats = await exec(helm, [
      "template",
      "t",
      CHART,
      "--kube-version",
      K8S_VERSION,
      "--set",
      "nats.url=nats://nats.infra:4222",
    ]);
    expect(withNats.stdout).toMatch(/- --default-nats-url=nats:\/\/nats\.infra:4222/);
  });

  it("alert rules pass promtool check rules", async () => {
    const { stdout } = await exec(helm, [
      "template",
      "t",
      CHART,
      "--kube-version",
      K8S_VERSION,
      "--api-versions",
      "monitoring.coreos.com/v1",
      "--show-only",
      "templates/prometheusrule.yaml",
    ]);
    const rule = YAML.parse(stdout) as { spec: { groups: unknown[] } };
    const file = join(inject("k8sDir"), "rules.yaml");
    await writeFile(file, YAML.stringify({ groups: rule.spec.groups }));
    const out = await exec("promtool", ["check", "rules", file]);
    expect(out.stdout).toMatch(/SUCCESS: 11 rules found/);
  });

  it("helm install is accepted by the API server, and the chart's RBAC is enough to run a TrainingRun", async () => {
    const crdDir = join(inject("k8sBin"), "prometheus-operator-crds");
    for (const f of (await readdir(crdDir)).filter((x) => x.endsWith(".yaml"))) {
      await kube.create(YAML.parse(await readFile(join(crdDir, f), "utf8")) as Record<string, unknown>);
    }
    await eventually(
      "monitoring.coreos.com/v1 served",
      () => kube.raw("GET", "/apis/monitoring.coreos.com/v1"),
      (r) => r.status === 200 && r.body.includes("prometheusrules"),
    );
    await exec(
      helm,
      [
        "install",
        "radfleet",
        CHART,
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        "radfleet-system",
        "--create-namespace",
        "--set",
        "image.tag=test",
      ],
      { timeout: 120_000 },
    );
    const ns = "/apis/monitoring.coreos.com/v1/namespaces/radfleet-system";
    await kube.json("GET", `${ns}/servicemonitors/radfleet`);
    await kube.json("GET", `${ns}/podmonitors/radfleet-runs`);
    const rules = await kube.json<{ spec: { groups: Array<{ rules: unknown[] }> } }>(
      "GET",
      `${ns}/prometheusrules/radfleet`,
    );
    expect(rules.spec.groups.flatMap((g) => g.rules)).toHaveLength(11);
    const dash = await kube.json<{
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    }>("GET", "/api/v1/namespaces/radfleet-system/configmaps/radfleet-dashboard");
    expect(dash.metadata.labels.grafana_dashboard).toBe("1");
    expect((JSON.parse(dash.data["radfleet.json"]) as { panels: unknown[] }).panels.length).toBeGreaterThan(
      10,
    );
    await kube.json("GET", "/apis/apps/v1/namespaces/radfleet-system/deployments/radfleet");
    await kube.json("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/radfleet");

    // The controller with the chart's ServiceAccount (a bound token), not the admin certificate.
    const tok = await kube.json<{ status: { token: string } }>(
      "POST",
      "/api/v1/namespaces/radfleet-system/serviceaccounts/radfleet/token",
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 3600 },
      },
    );
    const admin = YAML.parse(await readFile(kubeconfig, "utf8")) as {
      clusters: Array<{ cluster: Record<string, string> }>;
    };
    const saConfig = join(inject("k8sDir"), "sa-kubeconfig");
    await writeFile(
      saConfig,
      YAML.stringify({
        apiVersion: "v1",
        kind: "Config",
        "current-context": "sa",
        clusters: [{ name: "c", cluster: admin.clusters[0].cluster }],
        users: [{ name: "sa", user: { token: tok.status.token } }],
        contexts: [{ name: "sa", context: { cluster: "c", user: "sa" } }],
      }),
    );
    const p = await startControllerProc(saConfig, "ctl-sa", ["--lease-namespace", "radfleet-system"]);
    procs.push(p);
    await kube.create(namespace("rbac"));
    await eventually(
      "default SA",
      () => kube.raw("GET", "/api/v1/namespaces/rbac/serviceaccounts/default"),
      (r) => r.status === 200,
    );
    await kube.create(trainingRun("rb", "rbac"));
    await eventually(
      "Running under the chart's RBAC",
      () => getRun(kube, "rbac", "rb"),
      (r) => r.status?.phase === "Running",
    );
    // A Volcano run: the chart's RBAC covers the PodGroup the controller creates and corrects.
    await installPodGroupCrd(kube);
    await kube.create(trainingRun("rbv", "rbac", { scheduling: { schedulerName: "volcano" } }));
    await eventually(
      "PodGroup under the chart's RBAC",
      () => kube.raw("GET", "/apis/scheduling.volcano.sh/v1beta1/namespaces/rbac/podgroups/rbv"),
      (r) => r.status === 200,
    );
    expect(p.logs()).not.toMatch(/HTTP 403|forbidden/i);
  });

  it("the kustomize and plain-Prometheus manifests match the chart (deploy/kustomize/generate.sh)", async () => {
    const out = join(inject("k8sDir"), "kustomize-check");
    await exec("bash", [join(REPO, "deploy/kustomize/generate.sh"), helm], {
      env: { ...process.env, OUT_DIR: out },
    });
    const pairs = [
      ["deploy/kustomize/base/controller.yaml", "controller.yaml"],
      ["deploy/kustomize/monitoring/prometheus-operator.yaml", "prometheus-operator.yaml"],
      ["deploy/kustomize/monitoring/grafana-dashboard.yaml", "grafana-dashboard.yaml"],
      ["deploy/prometheus/radfleet-rules.yaml", "radfleet-rules.yaml"],
    ];
    for (const [committed, fresh] of pairs) {
      // Compare as data: prettier may reflow the committed copy.
      const a = YAML.parseAllDocuments(await readFile(join(REPO, committed), "utf8")).map(
        (d) => d.toJS() as unknown,
      );
      const b = YAML.parseAllDocuments(await readFile(join(out, fresh), "utf8")).map(
        (d) => d.toJS() as unknown,
      );
      expect(a, `${committed} is stale: run deploy/kustomize/generate.sh`).toEqual(b);
    }
  });

  it("the example TrainingRun is accepted by the API server", async () => {
    const ex = YAML.parse(await readFile(join(CHART, "examples/trainingrun.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    (ex.metadata as Record<string, unknown>).namespace = "default";
    const r = await kube.raw(
      "POST",
      "/apis/radfleet.io/v1alpha1/namespaces/default/trainingruns?dryRun=All",
      ex,
    );
    expect(r.status, r.body).toBe(201);
  });
});
