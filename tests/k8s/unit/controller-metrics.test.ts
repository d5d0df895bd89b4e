// The controller's per-run series, which the Failed and Pending-too-long alerts read: one phase
// series per run at a time, the time it entered that phase kept while the phase lasts, and nothing
// left behind when the run is deleted.
import { describe, expect, it } from "vitest";
import { newRegistry } from "../../../common/metrics.js";
import { controllerMetrics } from "../../../controller/k8s/index.js";

describe("controller metrics", () => {
  it("publishes each run's phase and since when, and forgets deleted runs", async () => {
    const reg = newRegistry();
    const m = controllerMetrics(reg);
    const text = () => reg.metrics();
    m.setRunPhase("team-a/cxr", "Pending", 1_000_000);
    m.setRunPhase("team-a/cxr", "Pending", 1_060_000); // still Pending: since is kept
    m.setRunPhase("team-b/cxr", "Running", 1_100_000);
    let t = await text();
    expect(t).toContain('radfleet_run_phase{run_namespace="team-a",run="cxr",phase="Pending"} 1');
    expect(t).toContain('radfleet_run_phase_since_timestamp_seconds{run_namespace="team-a",run="cxr"} 1000');
    expect(t).toContain('radfleet_run_phase{run_namespace="team-b",run="cxr",phase="Running"} 1');
    expect(t).toContain('radfleet_runs{phase="Pending"} 1');

    m.setRunPhase("team-a/cxr", "Failed", 1_200_000);
    t = await text();
    expect(t).not.toContain('run_namespace="team-a",run="cxr",phase="Pending"');
    expect(t).toContain('radfleet_run_phase{run_namespace="team-a",run="cxr",phase="Failed"} 1');
    expect(t).toContain('radfleet_run_phase_since_timestamp_seconds{run_namespace="team-a",run="cxr"} 1200');

    m.setRunPhase("team-a/cxr", undefined);
    t = await text();
    expect(t).not.toContain('run_namespace="team-a"');
    expect(t).toContain('radfleet_run_phase{run_namespace="team-b",run="cxr",phase="Running"} 1');
    expect(t).toContain('radfleet_runs{phase="Failed"} 0');
  });
});
