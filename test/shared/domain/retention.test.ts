import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { latestVersionOf } from "../../../shared/domain/latest.js";
import type { CatalogRetention } from "../../../shared/catalog/schema.js";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { isHealthy, planRetention } from "../../../shared/domain/retention.js";
import type { RetentionPlan, VersionSnapshot } from "../../../shared/domain/retention.js";
import { compareVersions, parseVersion } from "../../../shared/domain/versions.js";
import { aVersionSnapshot } from "../../factories.js";

const now = new Date("2026-06-01T00:00:00Z");
const policy: CatalogRetention = {
  endOfLifeDays: 90,
  keepLatest: 3,
  minAgeDays: 7,
  maxDeletionsPerRun: 10,
  dryRun: false,
  includeUnmanaged: false,
  deleteInUse: false,
};
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);
const codeOf = (plan: RetentionPlan, version: string) =>
  [...plan.deletions, ...plan.kept].find((e) => e.version === version)?.code;

describe("planRetention", () => {
  it("deletes versions past end of life beyond the newest healthy ones, oldest first", () => {
    const versions = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"].map((name) => aVersionSnapshot({ name }));
    const plan = planRetention({ versions, policy, now });
    expect(plan.latest).toBe("1.0.5");
    expect(plan.deletions.map((d) => d.version)).toEqual(["1.0.0", "1.0.1", "1.0.2"]);
    expect(plan.kept.map((k) => [k.version, k.code])).toEqual([
      ["1.0.5", "latest"],
      ["1.0.4", "newest-healthy"],
      ["1.0.3", "newest-healthy"],
    ]);
  });

  it("counts only healthy versions toward keepLatest, so failed builds cannot push out the last good image", () => {
    const failed = (name: string) =>
      aVersionSnapshot({
        name,
        provisioningState: "Failed",
        excludeFromLatest: true,
        tags: { ...managed, [tagNames.state]: "failed" },
      });
    const managed = { [tagNames.managedBy]: managedByValue };
    const versions = [
      aVersionSnapshot({ name: "1.0.0" }),
      aVersionSnapshot({ name: "1.0.1" }),
      failed("1.0.2"),
      failed("1.0.3"),
      failed("1.0.4"),
    ];
    const plan = planRetention({ versions, policy: { ...policy, keepLatest: 2 }, now });
    expect(plan.latest).toBe("1.0.1");
    expect(codeOf(plan, "1.0.0")).toBe("newest-healthy");
    expect(plan.deletions.map((d) => [d.version, d.code])).toEqual([
      ["1.0.2", "failed"],
      ["1.0.3", "failed"],
      ["1.0.4", "failed"],
    ]);
  });

  it("keeps versions before end of life, too young, in progress, of unknown age or not created by the pipeline", () => {
    const versions = [
      aVersionSnapshot({ name: "1.0.9" }),
      aVersionSnapshot({ name: "1.0.1", endOfLifeDate: new Date("2026-07-01T00:00:00Z") }),
      aVersionSnapshot({ name: "1.0.2", publishedDate: daysAgo(3), endOfLifeDate: undefined }),
      aVersionSnapshot({ name: "1.0.3", provisioningState: "Updating", excludeFromLatest: true }),
      aVersionSnapshot({
        name: "1.0.4",
        excludeFromLatest: true,
        tags: { [tagNames.managedBy]: managedByValue, [tagNames.state]: "replicating" },
      }),
      aVersionSnapshot({ name: "1.0.5", publishedDate: undefined }),
      aVersionSnapshot({ name: "1.0.6", tags: {} }),
      aVersionSnapshot({ name: "weird" }),
    ];
    const plan = planRetention({ versions, policy: { ...policy, keepLatest: 1 }, now });
    expect(plan.deletions).toEqual([]);
    expect(Object.fromEntries(plan.kept.map((k) => [k.version, k.code]))).toEqual({
      "1.0.9": "latest",
      "1.0.1": "before-end-of-life",
      "1.0.2": "too-young",
      "1.0.3": "in-progress",
      "1.0.4": "in-progress",
      "1.0.5": "age-unknown",
      "1.0.6": "unmanaged",
      weird: "not-a-version",
    });
  });

  it("prunes versions of other tools only with includeUnmanaged", () => {
    const versions = [aVersionSnapshot({ name: "2.0.0" }), aVersionSnapshot({ name: "1.0.0", tags: {} })];
    const plan = planRetention({ versions, policy: { ...policy, keepLatest: 1, includeUnmanaged: true }, now });
    expect(plan.deletions).toEqual([expect.objectContaining({ version: "1.0.0", code: "superseded" })]);
  });

  it("stops at maxDeletionsPerRun, spending the budget on failed, then never-promoted versions first", () => {
    const versions = [
      aVersionSnapshot({ name: "1.0.0" }),
      aVersionSnapshot({ name: "1.0.1", excludeFromLatest: true }),
      aVersionSnapshot({ name: "1.0.2", provisioningState: "Failed", excludeFromLatest: true }),
      aVersionSnapshot({ name: "1.0.3" }),
    ];
    const plan = planRetention({ versions, policy: { ...policy, keepLatest: 1, maxDeletionsPerRun: 2 }, now });
    expect(plan.deletions.map((d) => [d.version, d.code])).toEqual([
      ["1.0.2", "failed"],
      ["1.0.1", "never-promoted"],
    ]);
    expect(codeOf(plan, "1.0.0")).toBe("budget-exhausted");
  });
});

// Random galleries: versions from a small space so lines and collisions happen; dates around `now`.
const dateNear = fc.option(
  fc.integer({ min: -400, max: 200 }).map((d) => new Date(now.getTime() + d * 86_400_000)),
  {
    nil: undefined,
  },
);
const snapshotArb: fc.Arbitrary<VersionSnapshot> = fc.record({
  name: fc.oneof(
    { weight: 20, arbitrary: fc.tuple(fc.nat(2), fc.nat(3), fc.nat(30)).map((p) => p.join(".")) },
    { weight: 1, arbitrary: fc.constantFrom("latest", "1.0", "x.y.z") },
  ),
  publishedDate: dateNear,
  endOfLifeDate: dateNear,
  excludeFromLatest: fc.boolean(),
  provisioningState: fc.constantFrom(
    "Creating",
    "Updating",
    "Failed",
    "Succeeded",
    "Succeeded",
    "Succeeded",
    "Deleting",
    "Migrating",
  ),
  tags: fc.record(
    {
      [tagNames.managedBy]: fc.constantFrom(managedByValue, "someone-else"),
      [tagNames.state]: fc.constantFrom("distributing", "replicating", "promoted", "failed"),
    },
    { requiredKeys: [] },
  ),
  // Per-region flags: a region's own excludeFromLatest decides latest there.
  targetRegions: fc.uniqueArray(
    fc.record(
      { name: fc.constantFrom("westeurope", "northeurope", "eastus2"), excludeFromLatest: fc.boolean() },
      { requiredKeys: ["name"] },
    ),
    { selector: (r) => r.name, maxLength: 3 },
  ),
});
const galleryArb = fc.uniqueArray(snapshotArb, { selector: (v) => v.name, maxLength: 25 });
const policyArb: fc.Arbitrary<CatalogRetention> = fc.record({
  endOfLifeDays: fc.integer({ min: 1, max: 365 }),
  keepLatest: fc.integer({ min: 1, max: 6 }),
  minAgeDays: fc.integer({ min: 0, max: 60 }),
  maxDeletionsPerRun: fc.integer({ min: 1, max: 12 }),
  dryRun: fc.boolean(),
  includeUnmanaged: fc.boolean(),
  deleteInUse: fc.constant(false),
});
const nowArb = fc.integer({ min: -30, max: 30 }).map((d) => new Date(now.getTime() + d * 86_400_000));
const input = fc.record({ versions: galleryArb, policy: policyArb, now: nowArb });
const runs = { numRuns: 1000 };

function deleted(plan: RetentionPlan): Set<string> {
  return new Set(plan.deletions.map((d) => d.version));
}
function byVersionDesc(versions: readonly VersionSnapshot[]): VersionSnapshot[] {
  return versions.filter((v) => parseVersion(v.name)).sort((a, b) => compareVersions(b.name, a.name));
}

describe("planRetention invariants", () => {
  it("never deletes one of the newest keepLatest healthy versions", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const gone = deleted(planRetention({ versions, policy, now }));
        for (const v of byVersionDesc(versions).filter(isHealthy).slice(0, policy.keepLatest)) {
          expect(gone.has(v.name)).toBe(false);
        }
      }),
      runs,
    );
  });

  it("never deletes the version latest resolves to", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const plan = planRetention({ versions, policy, now });
        const latest = byVersionDesc(versions).find((v) => !v.excludeFromLatest)?.name;
        expect(plan.latest).toBe(latest);
        if (latest) expect(deleted(plan).has(latest)).toBe(false);
      }),
      runs,
    );
  });

  it("never deletes the version latest resolves to in any region", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const gone = deleted(planRetention({ versions, policy, now }));
        for (const region of ["westeurope", "northeurope", "eastus2"]) {
          const latest = latestVersionOf(versions, region)?.name;
          if (latest) expect(gone.has(latest), `latest in ${region}`).toBe(false);
        }
      }),
      runs,
    );
  });

  it("never deletes a version before its end of life, younger than minAgeDays, or of unknown age", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const gone = deleted(planRetention({ versions, policy, now }));
        for (const v of versions.filter((x) => gone.has(x.name))) {
          if (v.endOfLifeDate) expect(v.endOfLifeDate.getTime()).toBeLessThanOrEqual(now.getTime());
          expect(v.publishedDate).toBeDefined();
          expect(now.getTime() - v.publishedDate!.getTime()).toBeGreaterThanOrEqual(policy.minAgeDays * 86_400_000);
        }
      }),
      runs,
    );
  });

  it("never deletes a version still in progress", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const gone = deleted(planRetention({ versions, policy, now }));
        for (const v of versions.filter((x) => gone.has(x.name))) {
          expect(["Creating", "Updating", "Deleting", "Migrating"]).not.toContain(v.provisioningState);
          expect(v.tags[tagNames.state]).not.toBe("replicating");
        }
      }),
      runs,
    );
  });

  it("never deletes versions the pipeline did not create unless includeUnmanaged", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const gone = deleted(planRetention({ versions, policy: { ...policy, includeUnmanaged: false }, now }));
        for (const v of versions.filter((x) => gone.has(x.name))) {
          expect(v.tags[tagNames.managedBy]).toBe(managedByValue);
        }
      }),
      runs,
    );
  });

  it("deletes at most maxDeletionsPerRun, failed versions first, and gives every version exactly one reason", () => {
    fc.assert(
      fc.property(input, ({ versions, policy, now }) => {
        const plan = planRetention({ versions, policy, now });
        expect(plan.deletions.length).toBeLessThanOrEqual(policy.maxDeletionsPerRun);
        const all = [...plan.deletions, ...plan.kept].map((e) => e.version).sort();
        expect(all).toEqual(versions.map((v) => v.name).sort());
        const ranks = plan.deletions.map(
          (d) => ({ failed: 0, "never-promoted": 1, superseded: 2 })[d.code as "failed"],
        );
        expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
        if (plan.deletions.some((d) => d.code !== "failed")) {
          expect(plan.kept.filter((k) => k.code === "budget-exhausted" && k.reason.includes("failed"))).toEqual([]);
        }
      }),
      runs,
    );
  });

  it("is deterministic whatever the input order", () => {
    fc.assert(
      fc.property(input, fc.func(fc.integer()), ({ versions, policy, now }, key) => {
        const shuffled = [...versions].sort((a, b) => key(a.name) - key(b.name));
        expect(planRetention({ versions: shuffled, policy, now })).toEqual(planRetention({ versions, policy, now }));
      }),
      runs,
    );
  });
});
