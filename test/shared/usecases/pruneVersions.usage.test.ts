import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import type { FleetMember } from "../../../shared/domain/usage.js";
import type { VersionDetails } from "../../../shared/ports.js";
import { pruneVersions } from "../../../shared/usecases/pruneVersions.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const day = 86_400_000;
const otherSubscription = "0a0b0c0d-1111-2222-3333-444444444444";

const versionName = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 9 }))
  .map(([a, b, c]) => `${a}.${b}.${c}`);

/** A version as a gallery may hold it: any age, end of life, state, health, owner. */
const aVersion = fc.record({
  name: versionName,
  ageInDays: fc.integer({ min: 0, max: 400 }),
  endOfLifeInDays: fc.option(fc.integer({ min: -300, max: 60 }), { freq: 5 }),
  excludeFromLatest: fc.constantFrom(false, false, true),
  provisioningState: fc.constantFrom("Succeeded", "Succeeded", "Succeeded", "Failed", "Creating"),
  state: fc.constantFrom("promoted", "promoted", "failed", undefined),
  managed: fc.constantFrom(true, true, true, false),
});

/** How a member of the fleet points at a version: Azure's spellings, in any case. */
const aReference = fc.record({
  kind: fc.constantFrom(
    "vm-on-version",
    "vm-on-definition",
    "uniform-instance",
    "flexible-instance",
    "scale-set-on-version",
    "scale-set-on-definition",
    "other-definition",
  ),
  version: versionName,
  upperCase: fc.boolean(),
  subscription: fc.constantFrom("own", "other"),
  index: fc.nat(1000),
});

const scenario = fc.record({
  versions: fc.uniqueArray(aVersion, { minLength: 1, maxLength: 20, selector: (v) => v.name }),
  fleet: fc.array(aReference, { maxLength: 12 }),
  policy: fc.record({
    keepLatest: fc.integer({ min: 1, max: 4 }),
    minAgeDays: fc.integer({ min: 0, max: 30 }),
    maxDeletionsPerRun: fc.integer({ min: 1, max: 20 }),
    includeUnmanaged: fc.boolean(),
  }),
  unreadable: fc.option(fc.constantFrom("403 AccessDenied", "429 RateLimiting past the sweep's patience"), {
    freq: 4,
  }),
});

/**
 * The bar of issue 17, as a property over random galleries and random fleets: no version that a VM, a scale set (its
 * model) or a scale-set instance references is ever deleted, whichever way the reference is spelled; and when the
 * fleet cannot be read, nothing is deleted at all.
 */
describe("pruning with where the images run (property, on fakes)", () => {
  it("never deletes a version the fleet references, and deletes nothing when the fleet cannot be read", async () => {
    let deletions = 0;
    let runsWithUsage = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ versions, fleet, policy, unreadable }) => {
        const image = aCatalogImage({ retention: { ...policy, endOfLifeDays: 90, dryRun: false } });
        const world = fakePipeline([image], { usageSubscriptionIds: [world0Subscription(), otherSubscription] });
        const ref = world.refOf(image);
        const now = world.clock.now().getTime();
        const gallery = new Map<string, VersionDetails>();
        for (const v of versions) {
          gallery.set(v.name, {
            name: v.name,
            provisioningState: v.provisioningState,
            publishedDate: new Date(now - v.ageInDays * day),
            ...(v.endOfLifeInDays === null ? {} : { endOfLifeDate: new Date(now + v.endOfLifeInDays * day) }),
            excludeFromLatest: v.excludeFromLatest,
            targetRegions: [{ name: "westeurope" }],
            tags: {
              ...(v.managed ? { [tagNames.managedBy]: managedByValue } : {}),
              ...(v.state ? { [tagNames.state]: v.state } : {}),
            },
          });
        }
        world.gallery.versions.set(
          `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`,
          gallery,
        );

        const definitionId = `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/Microsoft.Compute/galleries/${ref.gallery}/images/${ref.definition}`;
        const referenced = new Set<string>();
        world.fleet.members = fleet.map((r, i): FleetMember => {
          const spell = (id: string) => (r.upperCase ? id.toUpperCase() : id);
          const subscriptionId = r.subscription === "own" ? ref.subscriptionId : otherSubscription;
          const set = `/subscriptions/${subscriptionId}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachineScaleSets/set${r.index}`;
          const at = { subscriptionId, resourceGroup: "rg-app" };
          if (r.kind !== "other-definition" && r.kind !== "scale-set-on-definition") referenced.add(r.version);
          switch (r.kind) {
            case "vm-on-version":
              return {
                id: `vm${i}`,
                kind: "virtualMachine",
                ...at,
                imageId: spell(`${definitionId}/versions/${r.version}`),
              };
            case "vm-on-definition":
              return {
                id: `vm${i}`,
                kind: "virtualMachine",
                ...at,
                imageId: spell(definitionId),
                exactVersion: r.version,
              };
            case "uniform-instance":
              return {
                id: `${set}/virtualMachines/${i}`,
                kind: "scaleSetInstance",
                ...at,
                imageId: spell(definitionId),
                exactVersion: r.version,
                scaleSetId: set,
              };
            case "flexible-instance":
              return {
                id: `vm${i}`,
                kind: "scaleSetInstance",
                ...at,
                imageId: spell(`${definitionId}/versions/${r.version}`),
                scaleSetId: set,
              };
            case "scale-set-on-version":
              return { id: set, kind: "scaleSet", ...at, imageId: spell(`${definitionId}/versions/${r.version}`) };
            case "scale-set-on-definition":
              return { id: set, kind: "scaleSet", ...at, imageId: spell(definitionId) };
            case "other-definition":
              return {
                id: `vm${i}`,
                kind: "virtualMachine",
                ...at,
                imageId: `${definitionId}-other/versions/${r.version}`,
              };
          }
        });
        if (unreadable) world.fleet.unavailable = unreadable;

        const deleted: string[] = [];
        world.gallery.deleteVersion = async (_ref, name) => {
          deleted.push(name);
          gallery.delete(name);
        };
        const result = await pruneVersions(world.deps);

        expect(world.fleet.sweeps).toHaveLength(1);
        if (unreadable) {
          expect(deleted).toEqual([]);
          expect(result.usageUnavailable).toBe(unreadable);
          return;
        }
        runsWithUsage++;
        deletions += deleted.length;
        for (const name of deleted) expect(referenced.has(name), `${name} is referenced by the fleet`).toBe(false);
        // Every referenced version past its end of life is reported as such.
        for (const late of result.images[0]!.inUsePastEndOfLife) expect(referenced.has(late.version)).toBe(true);
      }),
      { numRuns: 500 },
    );
    // The property has teeth: runs with a readable fleet do delete unreferenced versions.
    expect(runsWithUsage).toBeGreaterThan(100);
    expect(deletions).toBeGreaterThan(100);
  });
});

function world0Subscription(): string {
  return fakePipeline([]).deps.settings.subscriptionId;
}
