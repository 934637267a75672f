import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { OperationNotAllowedError } from "../../../shared/errors.js";
import { isHealthy } from "../../../shared/domain/retention.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { toSnapshot } from "../../../shared/usecases/pruneVersions.js";
import { promoteVersion, rollbackVersion } from "../../../shared/usecases/operatorControls.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({ name: "ubuntu-2404" });

/** A gallery with promoted versions of the image, in every target region. */
function withPromoted(...versions: string[]) {
  const world = fakePipeline([image]);
  const ref = world.refOf(image);
  for (const [i, name] of versions.entries()) {
    world.gallery.distributeVersion(ref, name, {
      location: "westeurope",
      tags: {
        [tagNames.managedBy]: managedByValue,
        [tagNames.buildId]: `b-${String(i).padStart(20, "0")}`,
        [tagNames.state]: "promoted",
      },
    });
    const v = world.gallery.versionsOf(ref).find((x) => x.name === name)!;
    v.excludeFromLatest = false;
    v.targetRegions = image.distribution.targetRegions.map((r) => ({ name: r.name, regionalReplicaCount: 1 }));
    world.gallery.setReplication(ref, name, Object.fromEntries(v.targetRegions.map((r) => [r.name, "Completed"])));
  }
  return { world, ref };
}

describe("rollbackVersion", () => {
  it("takes the latest version out of latest everywhere, records why, checks latest and sends its event once per rollback", async () => {
    const { world, ref } = withPromoted("1.0.0", "1.0.1");
    const result = await rollbackVersion(world.deps, image, { reason: "kernel panic on boot", by: "cli:me" });
    expect(result).toMatchObject({ version: "1.0.1", alreadyRolledBack: false, after: { latest: "1.0.0" } });
    for (const region of Object.values(result.after.byRegion)) expect(region).toBe("1.0.0");
    const version = world.gallery.versionsOf(ref).find((v) => v.name === "1.0.1")!;
    expect(version.excludeFromLatest).toBe(true);
    expect(version.targetRegions.every((r) => r.excludeFromLatest === true)).toBe(true);
    expect(version.tags).toMatchObject({
      [tagNames.state]: "rolledBack",
      [tagNames.rollbacks]: "1",
      [tagNames.rollbackReason]: "kernel panic on boot",
    });
    // Asked again (a retried command): nothing changes, the same event id again.
    const again = await rollbackVersion(world.deps, image, {
      version: "1.0.1",
      reason: "kernel panic on boot",
      by: "cli:me",
    });
    expect(again.alreadyRolledBack).toBe(true);
    const sent = world.bus.take("events").map((m) => m.messageId);
    expect(sent).toEqual(["b-00000000000000000001:rolled-back:1"]);
  });

  it("refuses to roll back the only version latest could resolve to", async () => {
    const { world } = withPromoted("1.0.0");
    await expect(rollbackVersion(world.deps, image, { reason: "bad", by: "me" })).rejects.toMatchObject({
      code: "RollbackWouldLeaveNoLatest",
    });
  });

  it("is never undone by the monitor, and retention counts the version unhealthy", async () => {
    const { world, ref } = withPromoted("1.0.0", "1.0.1");
    await rollbackVersion(world.deps, image, { reason: "bad", by: "me" });
    expect((await monitorReplication(world.deps)).promoted).toEqual([]);
    const version = world.gallery.versionsOf(ref).find((v) => v.name === "1.0.1")!;
    expect(version.excludeFromLatest).toBe(true);
    expect(isHealthy(toSnapshot(version))).toBe(false);
  });
});

describe("promoteVersion", () => {
  it("puts a rolled-back version back, with a promotion event of its own", async () => {
    const { world, ref } = withPromoted("1.0.0", "1.0.1");
    await rollbackVersion(world.deps, image, { reason: "false alarm", by: "me" });
    world.bus.take("events");
    const result = await promoteVersion(world.deps, image, { version: "1.0.1", by: "me" });
    expect(result).toMatchObject({ alreadyPromoted: false, after: { latest: "1.0.1" } });
    expect(world.gallery.versionsOf(ref).find((v) => v.name === "1.0.1")!.tags[tagNames.state]).toBe("promoted");
    expect(world.bus.take("events").map((m) => m.messageId)).toEqual(["b-00000000000000000001:promoted:1"]);
  });

  it("refuses a version some target region does not hold yet", async () => {
    const { world, ref } = withPromoted("1.0.0");
    world.gallery.setReplication(ref, "1.0.0", { westeurope: "Completed", northeurope: "Replicating" });
    const refused = await promoteVersion(world.deps, image, { version: "1.0.0", by: "me" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OperationNotAllowedError);
    expect(refused).toMatchObject({ code: "NotFullyReplicated", message: expect.stringContaining("northeurope") });
  });
});
