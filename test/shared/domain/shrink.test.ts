import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CatalogShrinkPolicy } from "../../../shared/catalog/schema.js";
import { normalizeRegion } from "../../../shared/domain/gallery.js";
import { latestVersionOf } from "../../../shared/domain/latest.js";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { planShrink, type ShrinkCandidate } from "../../../shared/domain/shrink.js";

const managed = { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" };
const version = (name: string, overrides: Partial<ShrinkCandidate> = {}): ShrinkCandidate => ({
  name,
  location: "westeurope",
  provisioningState: "Succeeded",
  excludeFromLatest: false,
  tags: managed,
  targetRegions: [
    { name: "westeurope", regionalReplicaCount: 3, storageAccountType: "Standard_ZRS" },
    { name: "northeurope", regionalReplicaCount: 2, storageAccountType: "Standard_LRS" },
  ],
  ...overrides,
});
const policy = (p: Partial<CatalogShrinkPolicy> = {}): CatalogShrinkPolicy => ({
  afterNewerVersions: 1,
  regionalReplicaCount: 1,
  keepRegions: "all",
  ...p,
});
const plan = (versions: ShrinkCandidate[], p = policy(), inUse?: Map<string, string>) =>
  planShrink({
    versions,
    policy: p,
    homeRegion: "westeurope",
    ...(inUse ? { inUse } : {}),
    defaults: { replicaCount: 1, storageAccountType: "Standard_LRS" },
  });

describe("planShrink", () => {
  it("reduces a superseded version's replicas in every region, keeping storage types, with the reason", () => {
    const { changes } = plan([version("1.0.0"), version("1.0.1")]);
    expect(changes).toEqual([
      {
        version: "1.0.0",
        targetRegions: [
          { name: "westeurope", regionalReplicaCount: 1, storageAccountType: "Standard_ZRS" },
          { name: "northeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
        ],
        removedRegions: [],
        reason: "superseded by 1 newer healthy version (1.0.1): westeurope 3 → 1 replicas; northeurope 2 → 1 replicas",
      },
    ]);
  });

  it("keeps only the version's own region with keepRegions home", () => {
    const [change] = plan(
      [version("1.0.0"), version("1.0.1")],
      policy({ keepRegions: "home", regionalReplicaCount: 5 }),
    ).changes;
    expect(change).toMatchObject({
      targetRegions: [{ name: "westeurope", regionalReplicaCount: 3, storageAccountType: "Standard_ZRS" }],
      removedRegions: ["northeurope"],
      reason: "superseded by 1 newer healthy version (1.0.1): northeurope removed (keepRegions: home)",
    });
  });

  it("waits for afterNewerVersions newer healthy versions: a failed one does not count", () => {
    const failed = version("1.0.2", { tags: { ...managed, [tagNames.state]: "failed" }, excludeFromLatest: true });
    const versions = [version("1.0.0"), version("1.0.1"), failed];
    expect(plan(versions, policy({ afterNewerVersions: 2 })).changes).toEqual([]);
    expect(plan(versions, policy({ afterNewerVersions: 2 })).kept).toContainEqual({
      version: "1.0.0",
      reason: "1 newer healthy version, shrinks after 2",
    });
    expect(
      plan([...versions, version("1.0.3")], policy({ afterNewerVersions: 2 })).changes.map((c) => c.version),
    ).toEqual(["1.0.0"]);
  });

  it("never touches the version latest resolves to in some region, one in use, one still rolling out or changing", () => {
    // 1.0.1 is kept out of latest in North Europe: latest there is still 1.0.0.
    const regional = version("1.0.1", {
      targetRegions: [{ name: "westeurope" }, { name: "northeurope", excludeFromLatest: true }],
    });
    expect(plan([version("1.0.0"), regional]).kept).toContainEqual({
      version: "1.0.0",
      reason: "latest resolves to it (northeurope)",
    });
    expect(
      plan([version("1.0.0"), version("1.0.1")], policy(), new Map([["1.0.0", "3 VMs in westeurope"]])).kept,
    ).toContainEqual({
      version: "1.0.0",
      reason: "in use: 3 VMs in westeurope",
    });
    const rolling = version("1.0.0", { tags: { ...managed, [tagNames.rollout]: "rolling" } });
    const updating = version("1.0.0", { provisioningState: "Updating" });
    for (const v of [rolling, updating]) expect(plan([v, version("1.0.1")]).changes).toEqual([]);
  });

  it("plans nothing once a version is shrunk: the second run changes nothing", () => {
    const versions = [version("1.0.0"), version("1.0.1")];
    const [change] = plan(versions, policy({ keepRegions: "home" })).changes;
    const after = [{ ...versions[0]!, targetRegions: change!.targetRegions }, versions[1]!];
    expect(plan(after, policy({ keepRegions: "home" }))).toMatchObject({
      changes: [],
      kept: expect.arrayContaining([{ version: "1.0.0", reason: "already shrunk" }]),
    });
  });
});

const regionNames = ["westeurope", "northeurope", "eastus2"];
const candidateArb: fc.Arbitrary<ShrinkCandidate> = fc.record({
  name: fc.tuple(fc.nat(1), fc.nat(2), fc.nat(12)).map((p) => p.join(".")),
  location: fc.constant("westeurope"),
  provisioningState: fc.constantFrom("Succeeded", "Succeeded", "Succeeded", "Updating", "Failed"),
  excludeFromLatest: fc.boolean(),
  tags: fc.record({
    [tagNames.managedBy]: fc.constantFrom(managedByValue, managedByValue, "someone-else"),
    [tagNames.state]: fc.constantFrom("promoted", "promoted", "replicating", "failed", "rolledBack"),
    [tagNames.rollout]: fc.constantFrom("complete", "rolling", "stopped"),
  }),
  targetRegions: fc
    .uniqueArray(
      fc.record({
        name: fc.constantFrom(...regionNames.slice(1)),
        regionalReplicaCount: fc.integer({ min: 1, max: 5 }),
        storageAccountType: fc.constantFrom("Standard_LRS", "Standard_ZRS"),
        excludeFromLatest: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { selector: (r) => r.name, maxLength: 2 },
    )
    .chain((others) =>
      fc
        .record({
          regionalReplicaCount: fc.integer({ min: 1, max: 5 }),
          excludeFromLatest: fc.option(fc.boolean(), { nil: undefined }),
        })
        .map((home) => [{ name: "westeurope", storageAccountType: "Standard_ZRS", ...home }, ...others]),
    ),
});
const worldArb = fc.record({
  versions: fc.uniqueArray(candidateArb, { selector: (v) => v.name, maxLength: 12 }),
  policy: fc.record({
    afterNewerVersions: fc.integer({ min: 1, max: 3 }),
    regionalReplicaCount: fc.integer({ min: 1, max: 3 }),
    keepRegions: fc.constantFrom("all" as const, "home" as const),
  }),
  inUse: fc.uniqueArray(
    fc.tuple(fc.nat(1), fc.nat(2), fc.nat(12)).map((p) => p.join(".")),
    { maxLength: 4 },
  ),
});

describe("planShrink, over 1,000 random galleries", () => {
  it("never changes a version latest resolves to in any region, nor one in use; never adds replicas or leaves the home region", () => {
    fc.assert(
      fc.property(worldArb, ({ versions, policy: p, inUse }) => {
        const used = new Map(inUse.map((v) => [v, "a scale set"]));
        const { changes } = plan(versions, p, used);
        const latest = new Set(
          [undefined, ...regionNames].map((r) => latestVersionOf(versions, r)?.name).filter((n) => n !== undefined),
        );
        for (const change of changes) {
          expect(latest.has(change.version)).toBe(false);
          expect(used.has(change.version)).toBe(false);
          const before = versions.find((v) => v.name === change.version)!;
          expect(change.targetRegions.map((r) => normalizeRegion(r.name))).toContain("westeurope");
          for (const r of change.targetRegions) {
            const held = before.targetRegions.find((h) => h.name === r.name)!;
            expect(r.regionalReplicaCount).toBeLessThanOrEqual(held.regionalReplicaCount!);
            expect(r.storageAccountType).toBe(held.storageAccountType);
            expect(r.excludeFromLatest).toBe(held.excludeFromLatest);
          }
          // latest resolves as before in every region: the change never touches what latest is.
          const after = versions.map((v) =>
            v.name === change.version ? { ...v, targetRegions: change.targetRegions } : v,
          );
          for (const region of [undefined, ...regionNames]) {
            expect(latestVersionOf(after, region)?.name).toBe(latestVersionOf(versions, region)?.name);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("is idempotent: applying its changes and planning again plans nothing more", () => {
    fc.assert(
      fc.property(worldArb, ({ versions, policy: p }) => {
        const first = plan(versions, p);
        const changed = new Map(first.changes.map((c) => [c.version, c.targetRegions]));
        const after = versions.map((v) => (changed.has(v.name) ? { ...v, targetRegions: changed.get(v.name)! } : v));
        expect(plan(after, p).changes).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});
