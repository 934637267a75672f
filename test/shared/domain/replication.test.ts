import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decideReplication, normalizeRegion } from "../../../shared/domain/replication.js";
import type { RegionalReplication } from "../../../shared/domain/replication.js";

const targets = ["westeurope", "northeurope", "eastus2"];
const region = (name: string, state: string, progress?: number, details?: string): RegionalReplication => ({
  region: name,
  state,
  ...(progress === undefined ? {} : { progress }),
  ...(details === undefined ? {} : { details }),
});
const base = {
  targetRegions: targets,
  currentRegions: targets,
  homeRegion: "westeurope",
  retriesSoFar: 0,
  maxRetries: 2,
};

describe("decideReplication", () => {
  it("promotes once every target region reports Completed, matching display names", () => {
    const decision = decideReplication({
      ...base,
      provisioningState: "Succeeded",
      replicationStatus: {
        aggregatedState: "Completed",
        summary: [
          region("West Europe", "Completed"),
          region("North Europe", "Completed"),
          region("East US 2", "Completed"),
        ],
      },
    });
    expect(decision).toEqual({ action: "promote" });
  });

  it("waits while a region is replicating or missing, reporting mean progress", () => {
    const decision = decideReplication({
      ...base,
      provisioningState: "Succeeded",
      replicationStatus: {
        aggregatedState: "InProgress",
        summary: [region("West Europe", "Completed"), region("North Europe", "Replicating", 40)],
      },
    });
    expect(decision).toEqual({ action: "wait", progress: 47 });
  });

  it("does not promote while provisioning is still running", () => {
    const summary = targets.map((t) => region(t, "Completed"));
    expect(decideReplication({ ...base, provisioningState: "Updating", replicationStatus: { summary } }).action).toBe(
      "wait",
    );
  });

  const failedInNorthEurope = {
    aggregatedState: "Failed",
    summary: [
      region("West Europe", "Completed"),
      region("North Europe", "Failed", 0, "Timed out copying blob"),
      region("East US 2", "Replicating", 70),
    ],
  };

  it("first retries a failed region with the same target regions, as Azure's error asks", () => {
    expect(decideReplication({ ...base, provisioningState: "Failed", replicationStatus: failedInNorthEurope })).toEqual(
      {
        action: "retry",
        regions: ["northeurope"],
      },
    );
  });

  it("removes a region that a retry did not recover, then adds it back once the removal is done", () => {
    const failedAgain = {
      ...base,
      retriesSoFar: 1,
      provisioningState: "Failed",
      replicationStatus: failedInNorthEurope,
    };
    expect(decideReplication(failedAgain)).toEqual({ action: "removeRegions", regions: ["northeurope"] });
    const withoutIt = { ...base, retriesSoFar: 2, maxRetries: 3, currentRegions: ["westeurope", "eastus2"] };
    expect(decideReplication({ ...withoutIt, provisioningState: "Updating" }).action).toBe("wait");
    expect(decideReplication({ ...withoutIt, provisioningState: "Succeeded" })).toEqual({
      action: "restoreRegions",
      regions: ["northeurope"],
    });
  });

  it("never removes the version's home region: it only retries it", () => {
    const homeFailed = {
      summary: [region("West Europe", "Failed", 0, "disk copy failed"), region("North Europe", "Completed")],
    };
    const decision = decideReplication({
      ...base,
      retriesSoFar: 1,
      provisioningState: "Failed",
      replicationStatus: homeFailed,
    });
    expect(decision).toEqual({ action: "retry", regions: ["westeurope"] });
  });

  it("fails naming the region once the recovery attempts are spent", () => {
    const decision = decideReplication({
      ...base,
      retriesSoFar: 2,
      provisioningState: "Failed",
      replicationStatus: failedInNorthEurope,
    });
    expect(decision.action).toBe("fail");
    expect(decision.action === "fail" && decision.reason).toMatch(
      /northeurope \(Timed out copying blob\) after 2 recovery attempts/,
    );
  });

  it("fails after the timeout", () => {
    const decision = decideReplication({
      ...base,
      provisioningState: "Updating",
      replicationStatus: { summary: [region("westeurope", "Replicating", 10)] },
      startedAt: new Date("2026-11-23T00:00:00Z"),
      now: new Date("2026-11-23T07:00:00Z"),
      timeoutInMs: 6 * 3_600_000,
    });
    expect(decision.action).toBe("fail");
    expect(decision.action === "fail" && decision.reason).toMatch(
      /within 21600000 ms.*westeurope, northeurope, eastus2/,
    );
  });

  it("leaves alone a version that something else is deleting", () => {
    expect(decideReplication({ ...base, provisioningState: "Deleting" }).action).toBe("skip");
  });

  it("normalizes region names as ARM compares them", () => {
    expect(normalizeRegion("East US 2")).toBe(normalizeRegion("eastus2"));
  });
});

const stateArb = fc.constantFrom("Unknown", "Replicating", "Completed", "Failed", undefined);
const provisioningArb = fc.constantFrom(
  "Creating",
  "Updating",
  "Failed",
  "Succeeded",
  "Deleting",
  "Migrating",
  undefined,
);
const displayNames: Record<string, string> = {
  westeurope: "West Europe",
  northeurope: "North Europe",
  eastus2: "East US 2",
  westus: "West US",
  uksouth: "UK South",
};
const display = (name: string) => displayNames[name] ?? name;

describe("decideReplication properties", () => {
  it("never promotes unless provisioning succeeded and every target region is Completed", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...targets, "westus", "uksouth"), { minLength: 1, maxLength: 5 }),
        fc.array(
          fc.record({
            name: fc.constantFrom(...targets, "westus", "uksouth"),
            state: stateArb,
            progress: fc.option(fc.integer({ min: -5, max: 120 }), { nil: undefined }),
          }),
          { maxLength: 8 },
        ),
        provisioningArb,
        fc.nat({ max: 4 }),
        fc.nat({ max: 4 }),
        (targetRegions, summary, provisioningState, retriesSoFar, maxRetries) => {
          const decision = decideReplication({
            targetRegions,
            currentRegions: targetRegions,
            homeRegion: targetRegions[0]!,
            retriesSoFar,
            maxRetries,
            ...(provisioningState === undefined ? {} : { provisioningState }),
            replicationStatus: {
              summary: summary.map((s) => ({
                region: display(s.name),
                ...(s.state ? { state: s.state } : {}),
                ...(s.progress === undefined ? {} : { progress: s.progress }),
              })),
            },
          });
          // The last entry for a region wins, as in the implementation's map.
          const lastState = new Map(summary.map((s) => [s.name, s.state]));
          const allCompleted = targetRegions.every((t) => lastState.get(t) === "Completed");
          if (decision.action === "promote") {
            expect(provisioningState).toBe("Succeeded");
            expect(allCompleted).toBe(true);
          }
          if (decision.action === "retry" || decision.action === "removeRegions") {
            expect(retriesSoFar).toBeLessThan(maxRetries);
            expect(decision.regions.length).toBeGreaterThan(0);
            for (const r of decision.regions) expect(targetRegions).toContain(r);
          }
          if (decision.action === "removeRegions") expect(decision.regions).not.toContain(targetRegions[0]);
          if (decision.action === "wait") {
            expect(decision.progress).toBeGreaterThanOrEqual(0);
            expect(decision.progress).toBeLessThanOrEqual(100);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
