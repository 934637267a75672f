import https from "node:https";
import { ComputeManagementClient } from "@azure/arm-compute";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { catalogSchema } from "../../shared/catalog/schema.js";
import { tagNames } from "../../shared/domain/names.js";
import { aCatalogImageInput } from "../factories.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

/**
 * The pipeline on the strict ARM emulator, as it must work on real Azure: a Gen2 image that supports Trusted Launch
 * and a standard Gen1 image, both distributed by Image Builder into the gallery and replicated to two regions;
 * failed builds that keep their customization log for the retention window; failed regions recovered by removing
 * and re-adding them, as Azure's error asks.
 */
describe("the pipeline on the strict local Azure", () => {
  let stack: Stack;
  const catalog = catalogSchema.parse({
    images: [
      aCatalogImageInput({
        name: "ubuntu-tl",
        definition: { sku: "ubuntu-tl", features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }] },
      }),
      aCatalogImageInput({
        name: "ubuntu-std",
        definition: {
          sku: "ubuntu-std",
          hyperVGeneration: "V1",
          features: [{ name: "SecurityType", value: "Standard" }],
        },
        source: {
          type: "PlatformImage",
          publisher: "Canonical",
          offer: "0001-com-ubuntu-server-jammy",
          sku: "22_04-lts",
        },
      }),
    ],
  });
  const compute = () =>
    new ComputeManagementClient(
      { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3.6e6 }) },
      localAzure.subscriptionId,
      { endpoint: stack.arm.endpoint, tlsOptions: { ca: stack.arm.caCertPem } },
    );
  const request = async (image: string, commit: string) => {
    const { status, body } = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    expect(status).toBe(202);
    return body.buildId as string;
  };
  const until = (buildId: string, stages: string[]) =>
    eventually(
      `build ${buildId} to reach ${stages.join("/")}`,
      async () => {
        await stack.host.invokeTimer("monitorReplication");
        const { status, body } = await api(stack, `/builds/${buildId}`);
        return status === 200 && stages.includes(body.stage) ? body : undefined;
      },
      60_000,
    );

  /** A blob as the emulator keeps it (customization logs live in the staging resource group's storage). */
  const blob = (uri: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const url = new URL(`/_emulator/blob?uri=${encodeURIComponent(uri)}`, stack.arm.endpoint);
      https
        .get(url, { ca: stack.arm.caCertPem }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        })
        .on("error", reject);
    });

  beforeAll(async () => {
    stack = await startTestStack({ catalog, overrides: { FAILED_BUILD_RETENTION_IN_HOURS: "0.002" } });
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  beforeEach(async () => {
    await armAdmin(stack.arm, "DELETE", "rules");
  });

  it("builds, publishes and promotes a TrustedLaunchSupported Gen2 image and a Standard Gen1 image in two regions each", async () => {
    const builds = [await request("ubuntu-tl", "1111111"), await request("ubuntu-std", "2222222")];
    for (const buildId of builds) expect((await until(buildId, ["promoted", "failed"])).stage).toBe("promoted");
    for (const [name, generation, security] of [
      ["ubuntu-tl", "V2", "TrustedLaunchSupported"],
      ["ubuntu-std", "V1", "Standard"],
    ] as const) {
      const definition = await compute().galleryImages.get("rg-golden-images", "acg_golden", name);
      expect(definition.hyperVGeneration).toBe(generation);
      expect(definition.features).toContainEqual({ name: "SecurityType", value: security });
      const versions = [];
      for await (const v of compute().galleryImageVersions.listByGalleryImage("rg-golden-images", "acg_golden", name)) {
        versions.push(v);
      }
      const [version] = versions;
      expect(version!.tags?.[tagNames.state]).toBe("promoted");
      expect(version!.publishingProfile?.targetRegions?.map((r) => r.name.toLowerCase().replace(/ /g, ""))).toEqual([
        "westeurope",
        "northeurope",
      ]);
      const definitionId = definition.id!;
      for (const region of ["westeurope", "northeurope"]) {
        const latest = await armAdmin<{ version: string }>(
          stack.arm,
          "GET",
          `latest?imageDefinitionId=${encodeURIComponent(definitionId)}&region=${region}`,
        );
        expect(latest.version, `latest of ${name} in ${region}`).toBe(version!.name);
      }
    }
  });

  it("keeps a failed build's customization log readable until its retention ends, then the sweep removes it all", async () => {
    await armAdmin(stack.arm, "POST", "rules/templates", { templateName: "ubuntu-tl-*", failAt: "Customizing" });
    const buildId = await request("ubuntu-tl", "3333333");
    const failed = await until(buildId, ["failed"]);
    expect(failed.failure.reason).toMatch(/^Image Builder run failed.*exit status 1/);
    const logUri: string = failed.failure.logUri ?? failed.run?.logUri;
    expect(logUri).toMatch(/^https:\/\/[a-z0-9]+\.blob\.core\.windows\.net\/packerlogs\/.+\/customization\.log$/);
    const log = await blob(logUri);
    expect(log.status).toBe(200);
    expect(log.text.length).toBeGreaterThan(0);
    const templates = async () =>
      (
        await armAdmin<{ counts: Record<string, number> }>(
          stack.arm,
          "GET",
          `resources?resourceGroup=${localAzure.imageBuilderResourceGroup}`,
        )
      ).counts["Microsoft.VirtualMachineImages/imageTemplates"] ?? 0;
    expect(await templates()).toBe(1);

    // FAILED_BUILD_RETENTION_IN_HOURS is 0.002 (7.2 s) here: the sweep removes the template, its staging group and log.
    await eventually(
      "the sweep to remove the failed build's template",
      async () => {
        await stack.host.invokeTimer("monitorReplication");
        return (await templates()) === 0;
      },
      60_000,
      500,
    );
    expect((await blob(logUri)).status).toBe(404);
    // The failure stays recorded on the definition, with where the log was.
    expect((await api(stack, `/builds/${buildId}`)).body).toMatchObject({ stage: "failed", failure: { logUri } });
  }, 90_000);

  it("recovers a region that a same-regions retry does not fix by removing it and adding it back", async () => {
    await armAdmin(stack.arm, "POST", "rules/versions", {
      imageDefinition: "ubuntu-std",
      failRegion: "northeurope",
      recovery: "readd",
      failureMessage: "storage account of the region is unavailable",
    });
    const buildId = await request("ubuntu-std", "4444444");
    const promoted = await until(buildId, ["promoted", "failed"]);
    expect(promoted.stage).toBe("promoted");
    const version = await compute().galleryImageVersions.get(
      "rg-golden-images",
      "acg_golden",
      "ubuntu-std",
      promoted.version,
    );
    expect(version.tags?.[tagNames.replicationAttempt]).toMatch(/^2 add northeurope /);
  });

  it("ends failed, never latest, when a region never recovers", async () => {
    await armAdmin(stack.arm, "POST", "rules/versions", {
      imageDefinition: "ubuntu-tl",
      failRegion: "northeurope",
      recovery: "never",
    });
    const before = await compute().galleryImages.get("rg-golden-images", "acg_golden", "ubuntu-tl");
    const latestBefore = await armAdmin<{ version: string | null }>(
      stack.arm,
      "GET",
      `latest?imageDefinitionId=${encodeURIComponent(before.id!)}`,
    );
    const buildId = await request("ubuntu-tl", "5555555");
    const failed = await until(buildId, ["promoted", "failed"]);
    expect(failed.stage).toBe("failed");
    expect(failed.failure.reason).toMatch(/replication failed in northeurope/);
    const latestAfter = await armAdmin<{ version: string | null }>(
      stack.arm,
      "GET",
      `latest?imageDefinitionId=${encodeURIComponent(before.id!)}`,
    );
    expect(latestAfter.version).toBe(latestBefore.version);
  });
});
