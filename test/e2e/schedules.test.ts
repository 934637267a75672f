import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { managedByValue, tagNames } from "../../shared/domain/names.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;
const day = 86_400_000;

/** The timers end to end: nightly rebuilds and pruning, on the local stack. */
describe("the pipeline's timers on the local stack", () => {
  let stack: Stack;
  const sample = loadCatalog("images.yaml");
  // Every image due every second, so one nightly tick finds them all due.
  const catalog = {
    images: sample.images.map((i) => ({
      ...i,
      schedule: { cron: "* * * * * *", skipIfUnchanged: true, disableAfterFailedBuilds: 3 },
    })),
  };
  const windowsSource = sample.images.find((i) => i.name === "windows-2022")!.source as {
    publisher: string;
    offer: string;
    sku: string;
  };

  async function buildAndPromote(image: string, commit: string) {
    const { body } = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    return eventually(`${image} to be promoted`, async () => {
      await stack.host.invokeTimer("monitorReplication");
      const r = await api(stack, `/builds/${body.buildId}`);
      return r.body?.stage === "promoted" ? r.body : undefined;
    });
  }

  beforeAll(async () => {
    stack = await startTestStack({ catalog });
    await configureSimulation(stack.arm, { ...instantSimulation, ...withoutThrottling });
    await provisionGalleries(stack.arm, stack.catalog);
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("skips an image whose base image and catalog entry are unchanged, and builds one whose base image moved", async () => {
    await buildAndPromote("ubuntu-2404", "aaaaaaa");
    const windows = await buildAndPromote("windows-2022", "aaaaaaa");
    const { images } = await armAdmin<{
      images: { publisher: string; offer: string; sku: string; location?: string; versions: string[] }[];
    }>(stack.arm, "GET", "platform-images");
    const current = images.find(
      (i) => i.publisher === windowsSource.publisher && i.offer === windowsSource.offer && i.sku === windowsSource.sku,
    )!;
    // A new version of the same platform image, with the image's own properties (OS, generation, features).
    await armAdmin(stack.arm, "PUT", "platform-images", {
      ...current,
      versions: [...current.versions, "20348.9999.261123"],
    });
    stack.logs.length = 0;

    await stack.host.invokeTimer("nightlyRebuild");

    const status = await eventually("a new windows build", async () => {
      const r = await api(stack, "/images/windows-2022");
      return r.body.versions.length > 1 || r.body.buildsInFlight.length > 0 ? r.body : undefined;
    });
    expect(
      status.versions
        .concat(status.buildsInFlight)
        .some((v: { version?: string; name?: string }) => (v.name ?? v.version) !== windows.version),
    ).toBe(true);
    const ubuntu = (await api(stack, "/images/ubuntu-2404")).body;
    expect(ubuntu.versions).toHaveLength(1);
    expect(ubuntu.buildsInFlight).toHaveLength(0);
    const lines = JSON.stringify(stack.logs);
    expect(lines).toContain("nightly: skipped");
    expect(lines).toContain("unchanged since");
  });

  it("prunes expired versions, keeping the newest healthy ones and the one latest resolves to", async () => {
    const image = catalog.images.find((i) => i.name === "ubuntu-2404")!;
    const now = Date.now();
    const promoted = { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" };
    const versions: {
      name: string;
      ageDays: number;
      eolDays: number;
      tags: Record<string, string>;
      excludeFromLatest?: boolean;
    }[] = [
      // Old and past their end of life: candidates, oldest first.
      ...[1, 2, 3, 4].map((p) => ({ name: `0.9.${p}`, ageDays: 200 - p, eolDays: -10, tags: promoted })),
      // A failed version past its end of life.
      {
        name: "0.9.5",
        ageDays: 150,
        eolDays: -1,
        tags: { ...promoted, [tagNames.state]: "failed" },
        excludeFromLatest: true,
      },
      // Past end of life, but among the newest healthy ones (keepLatest 3 with the version the first test published).
      { name: "0.9.6", ageDays: 100, eolDays: -1, tags: promoted },
      { name: "0.9.7", ageDays: 90, eolDays: -1, tags: promoted },
      // Not yet at its end of life.
      { name: "0.8.0", ageDays: 300, eolDays: 30, tags: promoted },
    ];
    await armAdmin(stack.arm, "POST", "seed", {
      subscriptionId: localAzure.subscriptionId,
      imageVersions: versions.map((v) => ({
        resourceGroup: image.gallery.resourceGroup,
        gallery: image.gallery.name,
        imageDefinition: image.definition.name,
        name: v.name,
        location: image.build.location,
        tags: v.tags,
        createdAt: new Date(now - v.ageDays * day).toISOString(),
        properties: {
          publishingProfile: {
            targetRegions: image.distribution.targetRegions.map((r) => ({ name: r.name })),
            excludeFromLatest: v.excludeFromLatest ?? false,
            endOfLifeDate: new Date(now + v.eolDays * day).toISOString(),
          },
        },
      })),
    });

    await stack.host.invokeTimer("pruneVersions");

    const remaining = (await api(stack, "/images/ubuntu-2404")).body;
    const names = remaining.versions.map((v: { name: string }) => v.name).sort();
    expect(names).not.toContain("0.9.1");
    expect(names).not.toContain("0.9.4");
    expect(names).not.toContain("0.9.5");
    expect(names).toEqual(expect.arrayContaining(["0.8.0", "0.9.6", "0.9.7", remaining.latest]));
    const lines = JSON.stringify(stack.logs);
    expect(lines).toContain("deleting version");
    expect(lines).toContain("keeping version");
  });
});
