import { ComputeManagementClient } from "@azure/arm-compute";
import type { Catalog } from "../shared/catalog/schema.js";
import type { ArmEmulator } from "./arm/index.js";
import { armPut } from "./provision.js";
import { localAzure } from "./settings.js";

/** Where a machine of the local fleet is created, and the gallery image (version or definition) it runs. */
export interface FleetMachine {
  subscriptionId?: string;
  resourceGroup: string;
  name: string;
  location: string;
  /** A gallery image version id, or a definition id (then Compute resolves `latest` and reports `exactVersion`). */
  imageId: string;
}

const pollFast = { updateIntervalInMs: 20 };

function computeFor(arm: ArmEmulator, subscriptionId: string): ComputeManagementClient {
  const credential = { getToken: async () => ({ token: "local", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  return new ComputeManagementClient(credential, subscriptionId, {
    endpoint: arm.endpoint,
    tlsOptions: { ca: arm.caCertPem },
  });
}

/** Creates a resource group, as a platform team's own deployment would before its VMs. */
export async function createResourceGroup(
  arm: ArmEmulator,
  group: { subscriptionId?: string; name: string; location: string },
): Promise<void> {
  const subscriptionId = group.subscriptionId ?? localAzure.subscriptionId;
  await armPut(arm, `/subscriptions/${subscriptionId}/resourcegroups/${group.name}?api-version=2022-09-01`, {
    location: group.location,
  });
}

/** Creates a VM from a gallery image through the Compute REST API (`@azure/arm-compute`), as any workload would. */
export async function createVirtualMachine(arm: ArmEmulator, vm: FleetMachine): Promise<void> {
  await computeFor(arm, vm.subscriptionId ?? localAzure.subscriptionId).virtualMachines.createOrUpdate(
    vm.resourceGroup,
    vm.name,
    {
      location: vm.location,
      hardwareProfile: { vmSize: "Standard_B2s" },
      storageProfile: { imageReference: { id: vm.imageId } },
    },
    pollFast,
  );
}

/** Creates a scale set of `capacity` instances from a gallery image (Uniform unless told). */
export async function createScaleSet(
  arm: ArmEmulator,
  set: FleetMachine & { capacity: number; orchestrationMode?: "Uniform" | "Flexible" },
): Promise<void> {
  await computeFor(arm, set.subscriptionId ?? localAzure.subscriptionId).virtualMachineScaleSets.createOrUpdate(
    set.resourceGroup,
    set.name,
    {
      location: set.location,
      sku: { name: "Standard_B2s", capacity: set.capacity },
      orchestrationMode: set.orchestrationMode ?? "Uniform",
      virtualMachineProfile: { storageProfile: { imageReference: { id: set.imageId } } },
    },
    pollFast,
  );
}

/**
 * A small fleet on the catalog's images, so that `image-pipeline usage`, the status API and the dashboard have
 * something to show: per image with a version, two VMs on its definition (`latest`, resolved to `exactVersion`) and a
 * Uniform scale set of three instances, in resource group `rg-workloads` of the pipeline's subscription. Images
 * without a version yet are skipped (Compute refuses a reference to a definition without one). Returns one line per
 * image created.
 */
export async function createSampleFleet(
  arm: ArmEmulator,
  catalog: Catalog,
  versionedImages: string[],
): Promise<string[]> {
  const resourceGroup = "rg-workloads";
  const lines: string[] = [];
  for (const image of catalog.images) {
    if (!versionedImages.includes(image.name)) continue;
    const subscriptionId = image.gallery.subscriptionId ?? localAzure.subscriptionId;
    const location = image.distribution.targetRegions[0]?.name ?? image.build.location;
    if (lines.length === 0) await createResourceGroup(arm, { name: resourceGroup, location });
    const definitionId = `/subscriptions/${subscriptionId}/resourceGroups/${image.gallery.resourceGroup}/providers/Microsoft.Compute/galleries/${image.gallery.name}/images/${image.definition.name}`;
    for (const n of [1, 2]) {
      await createVirtualMachine(arm, {
        resourceGroup,
        name: `vm-${image.name}-${n}`,
        location,
        imageId: definitionId,
      });
    }
    await createScaleSet(arm, {
      resourceGroup,
      name: `vmss-${image.name}`,
      location,
      imageId: definitionId,
      capacity: 3,
    });
    lines.push(`${image.name}: 2 VMs and a scale set of 3 instances in ${resourceGroup} (${location})`);
  }
  return lines;
}
