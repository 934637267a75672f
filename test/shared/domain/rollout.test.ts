import { describe, expect, it } from "vitest";
import { tagNames } from "../../../shared/domain/names.js";
import {
  decideRollout,
  firstWaveRegions,
  firstWaveTags,
  heldRegions,
  includeRegions,
  readRollout,
  rolloutStatusOf,
  rolloutTags,
  type RollingVersion,
} from "../../../shared/domain/rollout.js";
import { aCatalogImage } from "../../factories.js";

const image = aCatalogImage({
  distribution: {
    targetRegions: [
      { name: "westeurope" },
      { name: "northeurope" },
      { name: "eastus2" },
      { name: "swedencentral", excludeFromLatest: true },
    ],
    rollout: {
      soakInMinutes: 60,
      waves: [{ regions: ["westeurope"], soakInMinutes: 30 }, { regions: ["northeurope"] }, { regions: ["eastus2"] }],
    },
  },
});
const rollout = image.distribution.rollout!;
const promotedAt = new Date("2026-03-02T10:00:00Z");
const minutes = (n: number) => new Date(promotedAt.getTime() + n * 60_000);

/** A version promoted into wave 1 at `promotedAt`, as Azure then holds it. */
function rollingVersion(overrides: Partial<RollingVersion> = {}, tags: Record<string, string> = {}): RollingVersion {
  return {
    name: "1.0.4",
    excludeFromLatest: false,
    provisioningState: "Succeeded",
    tags: { ...firstWaveTags({ [tagNames.state]: "promoted" }, promotedAt), ...tags },
    targetRegions: firstWaveRegions(rollout, [
      { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
      { name: "northeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
      { name: "eastus2", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
      { name: "swedencentral", regionalReplicaCount: 1, storageAccountType: "Standard_LRS", excludeFromLatest: true },
    ]),
    ...overrides,
  };
}
const decide = (version: RollingVersion, now: Date, catalogRollout = rollout) =>
  decideRollout({ rollout: catalogRollout, excludedByCatalog: ["swedencentral"], version, now });

describe("promotion into a rollout's first wave", () => {
  it("keeps every later wave's region out of latest and leaves the first wave's and the catalog's as they were", () => {
    expect(rollingVersion().targetRegions.map((r) => [r.name, r.excludeFromLatest])).toEqual([
      ["westeurope", undefined],
      ["northeurope", true],
      ["eastus2", true],
      ["swedencentral", true],
    ]);
  });

  it("records wave 1, when it started and no failed health check, readable back from the tags", () => {
    expect(readRollout(rollingVersion().tags)).toEqual({
      state: "rolling",
      wave: 1,
      waveAt: promotedAt,
      gateFailures: 0,
    });
    expect(readRollout({})).toBeUndefined();
    expect(readRollout({ [tagNames.rollout]: "sideways" })).toBeUndefined();
  });

  it("writes a note only while there is one", () => {
    const noted = rolloutTags({}, { state: "halted", wave: 2, gateFailures: 3, note: "answered 503" });
    expect(noted[tagNames.rolloutNote]).toBe("answered 503");
    expect(rolloutTags(noted, { state: "rolling", wave: 2, gateFailures: 0 })).not.toHaveProperty(tagNames.rolloutNote);
  });
});

describe("decideRollout", () => {
  it("waits while wave 1 soaks for its own soakInMinutes, saying when the next wave moves", () => {
    expect(decide(rollingVersion(), minutes(29))).toEqual({
      action: "wait",
      wave: 1,
      waves: 3,
      nextWaveAt: minutes(30),
      reason: "wave 1 is soaking",
    });
  });

  it("moves latest into wave 2 once wave 1 has soaked, then waits the rollout's default soak before wave 3", () => {
    expect(decide(rollingVersion(), minutes(30))).toEqual({
      action: "advance",
      nextWave: 2,
      regions: ["northeurope"],
      complete: false,
    });
    const inWave2 = rollingVersion(
      {},
      rolloutTags(rollingVersion().tags, { state: "rolling", wave: 2, waveAt: minutes(30), gateFailures: 0 }),
    );
    expect(decide(inWave2, minutes(89))).toMatchObject({ action: "wait", nextWaveAt: minutes(90) });
    expect(decide(inWave2, minutes(90))).toEqual({
      action: "advance",
      nextWave: 3,
      regions: ["eastus2"],
      complete: true,
    });
  });

  it("asks the health check first when the catalog names one", () => {
    const checked = {
      ...rollout,
      healthCheck: { url: "https://health.example/", timeoutInSeconds: 5, failuresBeforeHalt: 2 },
    };
    expect(decide(rollingVersion(), minutes(30), checked)).toEqual({
      action: "checkHealth",
      nextWave: 2,
      regions: ["northeurope"],
    });
  });

  it("stops a version rolled back during its soak (its own excludeFromLatest set, or marked rolledBack), before the soak ends too", () => {
    const excluded = rollingVersion({ excludeFromLatest: true });
    expect(decide(excluded, minutes(5))).toMatchObject({ action: "stop" });
    expect(decide(excluded, minutes(500))).toMatchObject({ action: "stop" });
    expect(decide(rollingVersion({}, { [tagNames.state]: "rolledBack" }), minutes(500))).toMatchObject({
      action: "stop",
    });
  });

  it("waits while Azure still applies the last step, whatever the time", () => {
    expect(decide(rollingVersion({ provisioningState: "Updating" }), minutes(500))).toMatchObject({ action: "wait" });
  });

  it("leaves a version alone that is not rolling out", () => {
    const done = rollingVersion({}, { [tagNames.rollout]: "complete" });
    expect(decide(done, minutes(500))).toEqual({ action: "none" });
    expect(decide(rollingVersion({ tags: { [tagNames.state]: "promoted" } }), minutes(500))).toEqual({
      action: "none",
    });
  });

  it("lets latest into every held-back region at once when the catalog no longer declares waves, never the catalog's excluded ones", () => {
    expect(
      decideRollout({
        rollout: undefined,
        excludedByCatalog: ["swedencentral"],
        version: rollingVersion(),
        now: minutes(1),
      }),
    ).toEqual({
      action: "advance",
      nextWave: 2,
      regions: ["northeurope", "eastus2"],
      complete: true,
    });
  });
});

describe("includeRegions", () => {
  it("drops the region's own exclusion for the named regions only (the version's flag applies there again)", () => {
    const included = includeRegions(heldRegions(image, rollingVersion()), ["North Europe"]);
    expect(included.map((r) => [r.name, r.excludeFromLatest])).toEqual([
      ["westeurope", undefined],
      ["northeurope", undefined],
      ["eastus2", true],
      ["swedencentral", true],
    ]);
    expect(included[1]).not.toHaveProperty("excludeFromLatest");
    expect(included.map((r) => r.regionalReplicaCount)).toEqual([2, 1, 1, 1]);
  });
});

describe("rolloutStatusOf", () => {
  it("says which wave it is in, when the next moves and where", () => {
    expect(rolloutStatusOf(image, rollingVersion())).toEqual({
      version: "1.0.4",
      state: "rolling",
      wave: 1,
      waves: 3,
      nextWaveAt: minutes(30).toISOString(),
      nextRegions: ["northeurope"],
    });
  });

  it("shows a rolled-back version's rollout as stopped before the monitor records it", () => {
    expect(rolloutStatusOf(image, rollingVersion({ excludeFromLatest: true }))).toMatchObject({
      state: "stopped",
      note: "rolled back: no further wave moves",
    });
    expect(rolloutStatusOf(image, rollingVersion({ tags: {} }))).toBeUndefined();
  });
});
