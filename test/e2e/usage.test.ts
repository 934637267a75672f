import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../../local/armAdmin.js";
import { createResourceGroup, createScaleSet, createVirtualMachine } from "../../local/fleet.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { managedByValue, tagNames } from "../../shared/domain/names.js";
import type { PipelineEvent } from "../../shared/events/schema.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;
const day = 86_400_000;

/** The CLI against the stack, with the operator's settings from the environment. */
async function cli(stack: Stack, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { ...stack.env },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

/**
 * Issue 17's end-to-end bar: a scale set on 1.0.0 keeps 1.0.0 past its end of life while the unused, expired 1.0.1
 * is deleted, and the reasons show in `prune --dry-run`. The fleet is made through the Compute API of the ARM
 * emulator and read back through its Resource Graph endpoint, as in Azure.
 */
describe("where each version runs, and pruning around it, on the local stack", () => {
  let stack: Stack;
  const sample = loadCatalog("images.yaml").images.find((i) => i.name === "ubuntu-2404")!;
  const image = { ...sample, retention: { ...sample.retention, keepLatest: 1, minAgeDays: 7, maxDeletionsPerRun: 10 } };
  const subscriptionId = localAzure.subscriptionId;
  const definitionId = `/subscriptions/${subscriptionId}/resourceGroups/${image.gallery.resourceGroup}/providers/Microsoft.Compute/galleries/${image.gallery.name}/images/${image.definition.name}`;
  const location = "westeurope";

  beforeAll(async () => {
    stack = await startTestStack({ catalog: { images: [image] } });
    await configureSimulation(stack.arm, { ...instantSimulation, ...withoutThrottling });
    await provisionGalleries(stack.arm, stack.catalog);
    const now = Date.now();
    const promoted = { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" };
    // 1.0.0 and 1.0.1 published long ago and past their end of life; 1.0.2 is latest and current.
    const versions = [
      { name: "1.0.0", ageDays: 200, eolDays: -10 },
      { name: "1.0.1", ageDays: 150, eolDays: -5 },
      { name: "1.0.2", ageDays: 30, eolDays: 60 },
    ];
    await armAdmin(stack.arm, "POST", "seed", {
      subscriptionId,
      imageDefinitions: [
        {
          resourceGroup: image.gallery.resourceGroup,
          gallery: image.gallery.name,
          name: image.definition.name,
          location: image.gallery.location,
          properties: {
            osType: "Linux",
            osState: "Generalized",
            hyperVGeneration: "V2",
            identifier: {
              publisher: image.definition.publisher,
              offer: image.definition.offer,
              sku: image.definition.sku,
            },
          },
        },
      ],
      imageVersions: versions.map((v) => ({
        resourceGroup: image.gallery.resourceGroup,
        gallery: image.gallery.name,
        imageDefinition: image.definition.name,
        name: v.name,
        location: image.build.location,
        tags: promoted,
        createdAt: new Date(now - v.ageDays * day).toISOString(),
        properties: {
          publishingProfile: {
            targetRegions: image.distribution.targetRegions.map((r) => ({ name: r.name })),
            excludeFromLatest: false,
            endOfLifeDate: new Date(now + v.eolDays * day).toISOString(),
          },
        },
      })),
    });
    // A team's scale set pinned to 1.0.0, and a VM created from the definition (Compute resolves latest: 1.0.2).
    await createResourceGroup(stack.arm, { name: "rg-web", location });
    await createScaleSet(stack.arm, {
      resourceGroup: "rg-web",
      name: "web",
      location,
      imageId: `${definitionId}/versions/1.0.0`,
      capacity: 2,
    });
    await createVirtualMachine(stack.arm, { resourceGroup: "rg-web", name: "jump", location, imageId: definitionId });
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("shows where each version runs: `usage` and the status API, from Resource Graph", async () => {
    const text = await cli(stack, "usage", image.name);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`1.0.0            1 scale set with 2 instances (${subscriptionId}/rg-web)`);
    expect(text.stdout).toContain(`1.0.2            1 VM (${subscriptionId}/rg-web)`);
    expect(text.stdout).toContain(`    ${subscriptionId}/rg-web: 1 scale set, 2 instances\n`);
    expect(text.stdout).not.toContain("1.0.1");

    const json = await cli(stack, "usage", image.name, "--version", "1.0.0", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      image: image.name,
      subscriptions: [subscriptionId],
      versions: [
        {
          version: "1.0.0",
          virtualMachines: 0,
          scaleSets: 1,
          instances: 2,
          locations: [{ subscriptionId, resourceGroup: "rg-web", scaleSets: 1, instances: 2 }],
        },
      ],
    });

    const status = (await api(stack, `/images/${image.name}`)).body;
    const row = (v: string) => status.versions.find((r: { name: string }) => r.name === v);
    expect(row("1.0.0").usage).toMatchObject({ scaleSets: 1, instances: 2 });
    expect(row("1.0.2").usage).toMatchObject({ virtualMachines: 1 });
    expect(row("1.0.1")).not.toHaveProperty("usage");

    // The dashboard reads the same sweep: machines per version, and its Instances tile.
    const dashboard = (await api(stack, "/dashboard/data")).body;
    const shown = dashboard.images.find((i: { image: string }) => i.image === image.name);
    const machines = (v: string) => shown.versions.find((r: { name: string }) => r.name === v).instances;
    expect([machines("1.0.0"), machines("1.0.1"), machines("1.0.2")]).toEqual([2, 0, 1]);
    expect(shown.usage).toMatchObject({ instances: 3 });
    expect(dashboard.summary.instances).toBe(3);
  });

  it("shows in `prune --dry-run` why 1.0.0 stays and 1.0.1 goes, deleting nothing", async () => {
    const { code, stdout } = await cli(stack, "prune", "--dry-run");
    expect(code).toBe(0);
    expect(stdout).toContain(
      `keep 1.0.0: in use by 1 scale set with 2 instances (${subscriptionId}/rg-web); the catalog does not allow deleting versions in use`,
    );
    expect(stdout).toMatch(/would delete 1\.0\.1: .*end of life/);
    expect(stdout).toMatch(/in use past end of life \(\d{4}-\d\d-\d\d\): 1\.0\.0: 1 scale set with 2 instances/);
    const names = (await api(stack, `/images/${image.name}`)).body.versions.map((v: { name: string }) => v.name);
    expect(names.sort()).toEqual(["1.0.0", "1.0.1", "1.0.2"]);
  });

  it("keeps 1.0.0 past its end of life while the unused, expired 1.0.1 is deleted, and tells the topic", async () => {
    await stack.host.invokeTimer("pruneVersions");

    const names = await eventually("1.0.1 to be deleted", async () => {
      const r = await api(stack, `/images/${image.name}`);
      const now = r.body.versions.map((v: { name: string }) => v.name).sort();
      return now.includes("1.0.1") ? undefined : now;
    });
    expect(names).toEqual(["1.0.0", "1.0.2"]);
    const skipped = await eventually("the RetentionSkipped event of 1.0.0", async () =>
      stack.eventGrid
        .events()
        .map((e) => e.event as unknown as PipelineEvent)
        .find((e) => e.type === "ImagePipeline.RetentionSkipped" && e.data.version === "1.0.0"),
    );
    expect(skipped.data).toMatchObject({ rule: "in-use", image: image.name });
    // The scale set still scales out on 1.0.0.
    await createScaleSet(stack.arm, {
      resourceGroup: "rg-web",
      name: "web",
      location,
      imageId: `${definitionId}/versions/1.0.0`,
      capacity: 3,
    });
    const after = JSON.parse((await cli(stack, "usage", image.name, "--version", "1.0.0", "--json")).stdout);
    expect(after.versions[0].instances).toBe(3);
  });

  it("deletes nothing while Resource Graph refuses the pipeline, and says why", async () => {
    await armAdmin(stack.arm, "PATCH", "config", { resourceGraph: { deniedSubscriptions: [subscriptionId] } });
    try {
      const { code, stdout } = await cli(stack, "prune", "--dry-run");
      expect(code).toBe(0);
      expect(stdout).toMatch(/nothing is deleted this run: where the images run is unknown \(.*403.*\)/);
      expect(stdout).not.toContain("would delete");
      const usage = await cli(stack, "usage", image.name);
      expect(usage.code).toBe(1);
      expect(usage.stderr).toContain("where it runs is unknown");
    } finally {
      await armAdmin(stack.arm, "PATCH", "config", { resourceGraph: { deniedSubscriptions: [] } });
    }
  });
});
