import { describe, expect, it } from "vitest";
import { runPhases, runStatus, versionStatus, type TemplateRun } from "../../../local/arm/simulation.js";

const phases = runPhases(
  { Queued: 10, Building: 10, Customizing: 10, Optimizing: 10, Validating: 10, Distributing: 10 },
  false,
);

function run(overrides: Partial<TemplateRun> = {}): TemplateRun {
  return {
    runId: "r",
    operationId: "o",
    startMs: 1000,
    phases,
    cancelDurationMs: 5,
    finished: false,
    ...overrides,
  };
}

describe("simulated replication", () => {
  it("replicates regions in turn and fails the version when one region fails", () => {
    const simulation = {
      phase: "create" as const,
      regions: [
        { region: "West Europe", startMs: 0, durationMs: 100 },
        { region: "North Europe", startMs: 100, durationMs: 100, failureMessage: "boom" },
      ],
    };
    expect(versionStatus(simulation, 50).summary.map((s) => [s.state, s.progress])).toEqual([
      ["Replicating", 50],
      ["Replicating", 0],
    ]);
    expect(versionStatus(simulation, 150).provisioningState).toBe("Creating");
    const settled = versionStatus(simulation, 200);
    expect([settled.provisioningState, settled.aggregatedState]).toEqual(["Failed", "Failed"]);
    expect(settled.summary[1]).toMatchObject({ state: "Failed", details: "boom" });
  });
});

describe("simulated Image Builder runs", () => {
  it("walk the sub-states without Optimizing unless asked, then succeed once distribution settles", () => {
    expect(phases.map((p) => p.subState)).toEqual(["Queued", "Building", "Customizing", "Validating", "Distributing"]);
    expect(runStatus(run(), 1025)).toMatchObject({ runState: "Running", runSubState: "Customizing" });
    // Until the distribution is written the run stays Distributing, whatever the clock says.
    expect(runStatus(run(), 1050)).toMatchObject({ runState: "Running", runSubState: "Distributing" });
    const distributed = run({ distribution: { endMs: 1080, outcomes: [{ runOutputName: "a", index: 0, ok: true }] } });
    expect(runStatus(distributed, 1060)).toMatchObject({ runState: "Running", runSubState: "Distributing" });
    expect(runStatus(distributed, 1080)).toMatchObject({ runState: "Succeeded", endMs: 1080 });
  });

  it("end PartiallySucceeded when some distributions fail, Failed when all do", () => {
    const outcomes = [
      { runOutputName: "a", index: 0, ok: true },
      { runOutputName: "b", index: 1, ok: false, message: "boom" },
    ];
    expect(runStatus(run({ distribution: { endMs: 1050, outcomes } }), 1050)).toMatchObject({
      runState: "PartiallySucceeded",
      message: "Failed in distributing 1 images out of total 2: {[Error 0] [Distribute 1] boom}",
    });
    expect(runStatus(run({ distribution: { endMs: 1050, outcomes: [outcomes[1]!] } }), 1050).runState).toBe("Failed");
  });

  it("fail at the end of the scripted sub-state", () => {
    const failing = run({ failure: { subState: "Building", message: "no source" } });
    expect(runStatus(failing, 1015).runState).toBe("Running");
    expect(runStatus(failing, 1020)).toMatchObject({
      runState: "Failed",
      runSubState: "Building",
      message: "no source",
    });
  });

  it("cancel: Canceling for the cancel duration, then Canceled at the sub-state it was in", () => {
    const canceled = run({ cancelRequestedMs: 1012 });
    expect(runStatus(canceled, 1014)).toMatchObject({ runState: "Canceling", message: "Canceling image build" });
    expect(runStatus(canceled, 1014).runSubState).toBeUndefined();
    expect(runStatus(canceled, 1017)).toMatchObject({ runState: "Canceled", endMs: 1017 });
  });
});
