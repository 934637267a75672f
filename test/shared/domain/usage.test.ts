import { describe, expect, it } from "vitest";
import {
  describeUsage,
  isInUse,
  parseGalleryImageReference,
  usageByVersion,
  type FleetMember,
} from "../../../shared/domain/usage.js";

const sub = "5d9c2b1a-7e3f-4a6b-9c8d-0e1f2a3b4c5d";
const other = "0a0b0c0d-1111-2222-3333-444444444444";
const definition = {
  subscriptionId: sub,
  resourceGroup: "rg-golden-images",
  gallery: "acg_golden",
  definition: "ubuntu",
};
const definitionId = `/subscriptions/${sub}/resourceGroups/rg-golden-images/providers/Microsoft.Compute/galleries/acg_golden/images/ubuntu`;
const versionId = (v: string) => `${definitionId}/versions/${v}`;
const set = (s: string, rg: string, name: string) =>
  `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;

function vm(name: string, imageId: string, extra: Partial<FleetMember> = {}): FleetMember {
  return {
    id: `/subscriptions/${sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/${name}`,
    kind: "virtualMachine",
    subscriptionId: sub,
    resourceGroup: "rg-app",
    imageId,
    ...extra,
  };
}

describe("gallery image references", () => {
  it("parse a version id and a definition id, whatever the case, and nothing else", () => {
    expect(parseGalleryImageReference(versionId("1.0.0").toLowerCase())).toEqual({
      subscriptionId: sub,
      resourceGroup: "rg-golden-images",
      gallery: "acg_golden",
      definition: "ubuntu",
      version: "1.0.0",
    });
    expect(parseGalleryImageReference(definitionId)).toEqual(definition);
    expect(
      parseGalleryImageReference(`/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/images/img`),
    ).toBeUndefined();
  });
});

describe("usageByVersion", () => {
  it("counts VMs on a version id, and on the definition by the version they were given (exactVersion)", () => {
    const usage = usageByVersion(
      [
        vm("a", versionId("1.0.0")),
        vm("b", definitionId.toUpperCase(), { exactVersion: "1.0.1" }),
        vm("c", definitionId, { exactVersion: "1.0.1" }),
        vm("d", definitionId.replace("/ubuntu", "/windows"), { exactVersion: "1.0.1" }),
      ],
      definition,
    );
    expect([...usage.keys()].sort()).toEqual(["1.0.0", "1.0.1"]);
    expect(usage.get("1.0.1")).toEqual({
      virtualMachines: 2,
      scaleSets: 0,
      instances: 0,
      locations: [{ subscriptionId: sub, resourceGroup: "rg-app", virtualMachines: 2, scaleSets: 0, instances: 0 }],
    });
  });

  it("counts a scale set under the version its model names and under each version its instances run, once each", () => {
    const uniform = set(other, "rg-web", "web");
    const flexible = set(sub, "rg-api", "api");
    const members: FleetMember[] = [
      { id: uniform, kind: "scaleSet", subscriptionId: other, resourceGroup: "rg-web", imageId: definitionId },
      ...["0", "1", "2"].map((i): FleetMember => ({
        id: `${uniform}/virtualMachines/${i}`,
        kind: "scaleSetInstance",
        subscriptionId: other,
        resourceGroup: "rg-web",
        imageId: definitionId,
        exactVersion: i === "2" ? "1.0.1" : "1.0.0",
        scaleSetId: uniform,
      })),
      { id: flexible, kind: "scaleSet", subscriptionId: sub, resourceGroup: "rg-api", imageId: versionId("1.0.0") },
      vm("api_1a2b3c4d", versionId("1.0.0"), {
        kind: "scaleSetInstance",
        scaleSetId: flexible,
        resourceGroup: "rg-api",
      }),
    ];
    const usage = usageByVersion(members, definition);
    expect(usage.get("1.0.0")).toMatchObject({ virtualMachines: 0, scaleSets: 2, instances: 3 });
    expect(usage.get("1.0.1")).toMatchObject({ virtualMachines: 0, scaleSets: 1, instances: 1 });
    expect(
      usage.get("1.0.0")!.locations.map((l) => [l.subscriptionId, l.resourceGroup, l.scaleSets, l.instances]),
    ).toEqual(
      [
        [other, "rg-web", 1, 2],
        [sub, "rg-api", 1, 1],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(describeUsage(usage.get("1.0.0")!)).toBe(`2 scale sets with 3 instances (${other}/rg-web, ${sub}/rg-api)`);
  });

  it("says nothing of a version nothing runs", () => {
    const usage = usageByVersion([vm("a", versionId("1.0.0"))], definition);
    expect(isInUse(usage.get("1.0.0"))).toBe(true);
    expect(isInUse(usage.get("1.0.2"))).toBe(false);
    expect(describeUsage(usage.get("1.0.0")!)).toBe(`1 VM (${sub}/rg-app)`);
  });
});
