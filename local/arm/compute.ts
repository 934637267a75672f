import { ArmError, requiredParameterMissing, resourceNotFound } from "./errors.js";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  listOfType,
  lroHeaders,
  ok,
  plainProvisioningState,
  provisioningTimes,
  requireResourceGroupForRead,
  requireResourceGroupForWrite,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { startDeletion } from "./gallery.js";
import { comparePlatformVersions, normalizeRegion, sameRegion } from "./names.js";
import type { PlatformImageSet } from "./config.js";
import type { Store, StoredResource } from "./store.js";

export const managedImageType = "Microsoft.Compute/images";

export function managedImageId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Compute/images/${name}`;
}

/** The answer to a create PUT omits what the service fills in when provisioning ends (`osDisk.diskSizeGB`). */
export function managedImageView(store: Store, image: StoredResource, creating = false): unknown {
  const properties = { ...image.properties };
  if (creating && image.properties["diskSizeGBGiven"] !== true) {
    const storage = asObject(properties["storageProfile"]);
    const { diskSizeGB: _os, ...osDisk } = asObject(storage["osDisk"]);
    const dataDisks = (Array.isArray(storage["dataDisks"]) ? (storage["dataDisks"] as unknown[]) : []).map((d) => {
      const { diskSizeGB: _data, ...rest } = asObject(d);
      return rest;
    });
    properties["storageProfile"] = { ...storage, osDisk, dataDisks };
  }
  delete properties["diskSizeGBGiven"];
  return {
    name: image.name,
    id: image.id,
    type: managedImageType,
    location: image.location,
    ...(image.tags ? { tags: image.tags } : {}),
    properties: { ...properties, provisioningState: plainProvisioningState(image, store.now()) },
  };
}

/** Fills a managed image's storage profile the way the service reports it. */
export function normalizeManagedImageProperties(
  props: Record<string, unknown>,
  diskSizeGiven = true,
): Record<string, unknown> {
  const storageProfile = asObject(props["storageProfile"]);
  const osDisk = asObject(storageProfile["osDisk"]);
  return {
    ...props,
    diskSizeGBGiven: diskSizeGiven && typeof osDisk["diskSizeGB"] === "number",
    storageProfile: {
      ...storageProfile,
      osDisk: { osState: "Generalized", caching: "ReadWrite", diskSizeGB: 30, ...osDisk },
      dataDisks: Array.isArray(storageProfile["dataDisks"]) ? storageProfile["dataDisks"] : [],
    },
  };
}

/** Writes a managed image directly (Image Builder outputs, seeding). */
export function writeManagedImage(
  store: Store,
  input: {
    subscriptionId: string;
    resourceGroup: string;
    name: string;
    location: string;
    tags?: Record<string, string>;
    properties: Record<string, unknown>;
    /** Whether the request named the OS disk size (the create answer shows it only then). */
    diskSizeGiven?: boolean;
  },
  nowMs: number,
): StoredResource {
  const id = managedImageId(input.subscriptionId, input.resourceGroup, input.name);
  const existing = store.get(id);
  const image: StoredResource = {
    id: existing?.id ?? id,
    type: managedImageType,
    name: existing?.name ?? input.name,
    location: input.location,
    subscriptionId: input.subscriptionId,
    resourceGroup: existing?.resourceGroup ?? input.resourceGroup,
    tags: input.tags,
    properties: normalizeManagedImageProperties(input.properties, input.diskSizeGiven),
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
  };
  store.put(image);
  return image;
}

/** A managed image made from a VM takes the VM's OS disk and data disks; Trusted Launch VMs are refused. */
function fromVirtualMachine(ctx: Ctx, props: Record<string, unknown>, location: string): Record<string, unknown> {
  const vmId = String(asObject(props["sourceVirtualMachine"])["id"] ?? "");
  const vm = ctx.store.get(vmId);
  if (!vm || !sameRegion(vm.location, location)) {
    throw new ArmError(
      404,
      "NotFound",
      `The Resource '${vmId.split("/providers/")[1] ?? vmId}' was not found in location '${location}'.`,
    );
  }
  const securityType = asObject(vm.properties["securityProfile"])["securityType"];
  if (securityType === "TrustedLaunch" || securityType === "ConfidentialVM") {
    throw new ArmError(
      409,
      "OperationNotAllowed",
      `Creation of managed images are not supported for virtual machine with ${String(securityType)} security type.`,
    );
  }
  const vmStorage = asObject(vm.properties["storageProfile"]);
  const vmOsDisk = asObject(vmStorage["osDisk"]);
  const managedDisk = asObject(vmOsDisk["managedDisk"]);
  const dataDisks = (Array.isArray(vmStorage["dataDisks"]) ? (vmStorage["dataDisks"] as unknown[]) : [])
    .map(asObject)
    .map((d) => {
      const disk = asObject(d["managedDisk"]);
      return {
        lun: d["lun"],
        ...(disk["id"] ? { managedDisk: { id: disk["id"] } } : {}),
        caching: d["caching"] ?? "None",
        ...(disk["storageAccountType"] ? { storageAccountType: disk["storageAccountType"] } : {}),
        ...(typeof d["diskSizeGB"] === "number" ? { diskSizeGB: d["diskSizeGB"] } : {}),
      };
    });
  return {
    ...props,
    storageProfile: {
      osDisk: {
        osType: vmOsDisk["osType"],
        osState: "Generalized",
        ...(managedDisk["id"] ? { managedDisk: { id: managedDisk["id"] } } : {}),
        caching: vmOsDisk["caching"] ?? "ReadWrite",
        ...(typeof vmOsDisk["diskSizeGB"] === "number" ? { diskSizeGB: vmOsDisk["diskSizeGB"] } : {}),
        ...(managedDisk["storageAccountType"] ? { storageAccountType: managedDisk["storageAccountType"] } : {}),
      },
      dataDisks,
    },
    ...(props["hyperVGeneration"] === undefined
      ? { hyperVGeneration: asObject(vm.properties["instanceView"])["hyperVGeneration"] ?? "V1" }
      : {}),
  };
}

export function putManagedImage(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const location = body["location"];
  if (typeof location !== "string" || location === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  ensureResourceGroup(ctx, p["rg"]!, location);
  let props = { ...asObject(body["properties"]) };
  delete props["provisioningState"];
  const storageProfile = asObject(props["storageProfile"]);
  if (props["sourceVirtualMachine"] === undefined && storageProfile["osDisk"] === undefined) {
    throw requiredParameterMissing("parameters.properties.storageProfile.osDisk");
  }
  const diskSizeGiven = typeof asObject(storageProfile["osDisk"])["diskSizeGB"] === "number";
  if (props["sourceVirtualMachine"] !== undefined) props = fromVirtualMachine(ctx, props, location);
  const existing = ctx.store.get(managedImageId(ctx.subscriptionId, p["rg"]!, p["image"]!));
  const image = writeManagedImage(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      name: p["image"]!,
      location,
      tags: tagsOf(body["tags"]),
      properties: props,
      diskSizeGiven,
    },
    ctx.nowMs,
  );
  Object.assign(image, provisioningTimes(ctx, existing));
  ctx.store.put(image);
  const op = startOperation(ctx, "compute", location, { kind: "timer", completesAtMs: image.provisionedAtMs });
  return {
    status: existing ? 200 : 201,
    body: managedImageView(ctx.store, image, !existing),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

function getImage(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const image = ctx.store.get(managedImageId(ctx.subscriptionId, p["rg"]!, p["image"]!));
  if (!image) throw resourceNotFound(managedImageType, [p["image"]!], p["rg"]!);
  return image;
}

export function patchManagedImage(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const image = getImage(ctx, p);
  if (body["tags"] !== undefined) image.tags = tagsOf(body["tags"]);
  const props = asObject(body["properties"]);
  if (props["hyperVGeneration"] !== undefined) image.properties["hyperVGeneration"] = props["hyperVGeneration"];
  Object.assign(image, provisioningTimes(ctx, image));
  ctx.store.put(image);
  const op = startOperation(ctx, "compute", image.location, { kind: "timer", completesAtMs: image.provisionedAtMs });
  return {
    status: 200,
    body: managedImageView(ctx.store, image),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

export function getManagedImageReply(ctx: Ctx, p: Params): Reply {
  return ok(managedImageView(ctx.store, getImage(ctx, p)));
}

export function deleteManagedImage(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const image = ctx.store.get(managedImageId(ctx.subscriptionId, p["rg"]!, p["image"]!));
  if (!image) return { status: 204 };
  return startDeletion(ctx, image);
}

export function listManagedImagesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, managedImageType, managedImageView, p["rg"]!);
}

export function listManagedImages(ctx: Ctx): Reply {
  return listOfType(ctx, managedImageType, managedImageView);
}

// ---------------------------------------------------------------- platform images

/** The sets of platform images published for a publisher/offer/sku in a location. */
export function platformImageSets(
  store: Store,
  location: string,
  publisher: string,
  offer: string,
  sku: string,
): PlatformImageSet[] {
  const lower = (x: string) => x.toLowerCase();
  return store
    .effectivePlatformImages()
    .filter(
      (set) =>
        (set.location === undefined || normalizeRegion(set.location) === normalizeRegion(location)) &&
        lower(set.publisher) === lower(publisher) &&
        lower(set.offer) === lower(offer) &&
        lower(set.sku) === lower(sku),
    );
}

/** Versions published for a publisher/offer/sku in a location, oldest first (by their numbers). */
export function platformImageVersions(
  store: Store,
  location: string,
  publisher: string,
  offer: string,
  sku: string,
): string[] {
  const versions = new Set<string>();
  for (const set of platformImageSets(store, location, publisher, offer, sku)) {
    for (const v of set.versions) versions.add(v);
  }
  return [...versions].sort(comparePlatformVersions);
}

/** The properties VirtualMachineImages_Get reports for a version of a set. */
export function platformImageProperties(set: PlatformImageSet | undefined, publisher: string): Record<string, unknown> {
  const windows = set?.osType ? set.osType === "Windows" : publisher.toLowerCase().startsWith("microsoftwindows");
  return {
    hyperVGeneration: set?.hyperVGeneration ?? "V1",
    architecture: set?.architecture ?? "x64",
    replicaType: "Unmanaged",
    disallowed: { vmDiskType: "None" },
    automaticOSUpgradeProperties: { automaticOSUpgradeSupported: set?.automaticOSUpgradeSupported ?? false },
    imageDeprecationStatus: { imageState: "Active" },
    features: set?.features ?? [],
    osDiskImage: {
      operatingSystem: windows ? "Windows" : "Linux",
      sizeInBytes: set?.osDiskSizeInBytes ?? (windows ? 136_367_308_800 : 32_213_303_808),
    },
    dataDiskImages: [],
  };
}

function platformImageId(ctx: Ctx, p: Params, version: string): string {
  return (
    `/Subscriptions/${ctx.subscriptionId}/Providers/Microsoft.Compute/Locations/${p["location"]!}` +
    `/Publishers/${p["publisher"]!}/ArtifactTypes/VMImage/Offers/${p["offer"]!}/Skus/${p["sku"]!}/Versions/${version}`
  );
}

const notFound = () => new ArmError(404, "NotFound", "Artifact: VMImage was not found.");

/**
 * VirtualMachineImages_List: `$orderby=name desc` sorts the names as strings, as Azure does (8.9.x before 8.10.x,
 * Azure/azure-rest-api-specs#30142); without `$orderby` the names are ascending (as strings too); then `$top`.
 */
export function listPlatformImageVersions(ctx: Ctx, p: Params): Reply {
  let versions = platformImageVersions(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!);
  if (versions.length === 0) throw notFound();
  versions = [...versions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const orderBy = (ctx.url.searchParams.get("$orderby") ?? "").toLowerCase().replace(/\s+/g, " ").trim();
  if (orderBy === "name desc") versions.reverse();
  const top = Number(ctx.url.searchParams.get("$top"));
  if (Number.isInteger(top) && top > 0) versions = versions.slice(0, top);
  return ok(versions.map((v) => ({ location: p["location"]!, name: v, id: platformImageId(ctx, p, v) })));
}

/** VirtualMachineImages_Get; `latest` is the highest version by its numbers. */
export function getPlatformImageVersion(ctx: Ctx, p: Params): Reply {
  const sets = platformImageSets(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!);
  const versions = platformImageVersions(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!);
  const version =
    p["version"]!.toLowerCase() === "latest" ? versions[versions.length - 1] : versions.find((v) => v === p["version"]);
  if (!version) throw notFound();
  const set = sets.find((s) => s.versions.includes(version));
  return ok({
    properties: platformImageProperties(set, p["publisher"]!),
    location: p["location"]!,
    name: version,
    id: platformImageId(ctx, p, version),
  });
}
