import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./arm/helpers.js";
import { provisionLocalAzure } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ImageBuilderClient } from "@azure/arm-imagebuilder";

describe("the local provisioning (what azd provision creates)", () => {
  let h: Harness;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "provision-"));
    h = await startHarness(dir);
    await h.admin("PUT", "config", { operationDurationInMs: 0, throttling: { enabled: false } });
  });
  afterAll(async () => {
    await h.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the resource groups, the Image Builder identity, the galleries and the builder's role assignment, and can run again", async () => {
    const catalog = loadCatalog("images.yaml");
    await provisionLocalAzure(h.emulator, catalog);
    await provisionLocalAzure(h.emulator, catalog);

    const state = await h.admin<{
      counts: Record<string, number>;
      resourceGroups: { subscriptionId: string; name: string }[];
    }>("GET", `resources?subscriptionId=${localAzure.subscriptionId}`);
    expect(state.resourceGroups.map((g) => g.name).sort()).toEqual(
      ["rg-golden-images", localAzure.imageBuilderResourceGroup, "rg-image-pipeline"].sort(),
    );
    expect(state.counts).toEqual({
      "Microsoft.ManagedIdentity/userAssignedIdentities": 1,
      "Microsoft.Compute/galleries": 1,
    });
    const assignments = await h.admin<{ resources: unknown[] }>(
      "GET",
      `resources?subscriptionId=${localAzure.subscriptionId}&type=Microsoft.Authorization/roleAssignments`,
    );
    // rbac.bicep: the builder identity's gallery-distribution role, on the gallery (none on the staging groups, which
    // Image Builder creates and gives itself Contributor on).
    expect(assignments.resources).toEqual([
      expect.objectContaining({
        id: expect.stringMatching(/\/galleries\/acg_golden\/providers\/Microsoft\.Authorization\/roleAssignments\//i),
      }),
    ]);

    const credential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 60_000 }) };
    const options = { endpoint: h.emulator.endpoint, tlsOptions: { ca: h.emulator.caCertPem } };
    const compute = new ComputeManagementClient(credential, localAzure.subscriptionId, options);
    expect((await compute.galleries.get("rg-golden-images", "acg_golden")).provisioningState).toBe("Succeeded");

    // A template naming the provisioned identity is accepted (Image Builder requires an existing identity).
    const imageBuilder = new ImageBuilderClient(credential, localAzure.subscriptionId, options);
    const template = await imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      localAzure.imageBuilderResourceGroup,
      "probe",
      {
        location: "westeurope",
        identity: { type: "UserAssigned", userAssignedIdentities: { [localAzure.imageBuilderIdentityId]: {} } },
        source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
        distribute: [{ type: "VHD", runOutputName: "vhd" }],
      },
      { updateIntervalInMs: 5 },
    );
    expect(template.provisioningState).toBe("Succeeded");
  });
});
