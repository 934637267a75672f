import { ArmError, requiredParameterMissing, resourceNotFound } from "./errors.js";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  listOfType,
  lroHeaders,
  ok,
  requireResourceGroupForRead,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { plainProvisioningState } from "./gallery.js";
import { comparePlatformVersions, normalizeRegion } from "./names.js";
import type { Store, StoredResource } from "./store.js";

export const managedImageType = "Microsoft.Compute/images";

export function managedImageId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Compute/images/${name}`;
}

export function managedImageView(store: Store, image: StoredResource): unknown {
  return {
    id: image.id,
    name: image.name,
    type: managedImageType,
    location: image.location,
    ...(image.tags ? { tags: image.tags } : {}),
    properties: { ...image.properties, provisioningState: plainProvisioningState(image, store.now()) },
  };
}

/** Fills a managed image's storage profile the way the service reports it. */
export function normalizeManagedImageProperties(props: Record<string, unknown>): Record<string, unknown> {
  const storageProfile = asObject(props["storageProfile"]);
  const osDisk = asObject(storageProfile["osDisk"]);
  return {
    hyperVGeneration: "V2",
    ...props,
    storageProfile: {
      zoneResilient: false,
      dataDisks: [],
      ...storageProfile,
      osDisk: {
        osState: "Generalized",
        caching: "ReadWrite",
        storageAccountType: "Standard_LRS",
        diskSizeGB: 30,
        ...osDisk,
      },
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
    resourceGroup: input.resourceGroup,
    tags: input.tags,
    properties: normalizeManagedImageProperties(input.properties),
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
  };
  store.put(image);
  return image;
}

export function putManagedImage(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const location = body["location"];
  if (typeof location !== "string" || location === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  const props = { ...asObject(body["properties"]) };
  delete props["provisioningState"];
  const storageProfile = asObject(props["storageProfile"]);
  if (props["sourceVirtualMachine"] === undefined && storageProfile["osDisk"] === undefined) {
    throw requiredParameterMissing("parameters.properties.storageProfile.osDisk");
  }
  ensureResourceGroup(ctx, p["rg"]!, location);
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
    },
    ctx.nowMs,
  );
  image.provisionedAtMs = ctx.nowMs + ctx.store.config.operationDurationInMs;
  image.provisioningPhase = existing ? "update" : "create";
  const op = startOperation(ctx, "compute", location, { kind: "timer", completesAtMs: image.provisionedAtMs });
  return {
    status: existing ? 200 : 201,
    body: managedImageView(ctx.store, image),
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
  const image = getImage(ctx, p);
  if (body["tags"] !== undefined) image.tags = tagsOf(body["tags"]);
  const props = asObject(body["properties"]);
  if (props["hyperVGeneration"] !== undefined) image.properties["hyperVGeneration"] = props["hyperVGeneration"];
  image.updatedAtMs = ctx.nowMs;
  ctx.store.put(image);
  const op = startOperation(ctx, "compute", image.location, { kind: "timer", completesAtMs: ctx.nowMs });
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
  ctx.store.delete(image.id);
  const op = startOperation(ctx, "compute", image.location, {
    kind: "timer",
    completesAtMs: ctx.nowMs + ctx.store.config.operationDurationInMs,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: true }) };
}

export function listManagedImagesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, managedImageType, managedImageView, p["rg"]!);
}

export function listManagedImages(ctx: Ctx): Reply {
  return listOfType(ctx, managedImageType, managedImageView);
}

// ---------------------------------------------------------------- platform images

/** Versions published for a publisher/offer/sku in a location, oldest first. */
export function platformImageVersions(
  store: Store,
  location: string,
  publisher: string,
  offer: string,
  sku: string,
): string[] {
  const lower = (x: string) => x.toLowerCase();
  const versions = new Set<string>();
  for (const set of store.effectivePlatformImages()) {
    if (set.location !== undefined && normalizeRegion(set.location) !== normalizeRegion(location)) continue;
    if (lower(set.publisher) !== lower(publisher) || lower(set.offer) !== lower(offer) || lower(set.sku) !== lower(sku))
      continue;
    for (const v of set.versions) versions.add(v);
  }
  return [...versions].sort(comparePlatformVersions);
}

function platformImageId(ctx: Ctx, p: Params, version: string): string {
  return (
    `/Subscriptions/${ctx.subscriptionId}/Providers/Microsoft.Compute/Locations/${normalizeRegion(p["location"]!)}` +
    `/Publishers/${p["publisher"]!}/ArtifactTypes/VMImage/Offers/${p["offer"]!}/Skus/${p["sku"]!}/Versions/${version}`
  );
}

export function listPlatformImageVersions(ctx: Ctx, p: Params): Reply {
  let versions = platformImageVersions(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!);
  const orderBy = (ctx.url.searchParams.get("$orderby") ?? "").toLowerCase().replace(/\s+/g, " ").trim();
  if (orderBy === "name desc") versions = [...versions].reverse();
  const top = Number(ctx.url.searchParams.get("$top"));
  if (Number.isInteger(top) && top > 0) versions = versions.slice(0, top);
  if (
    versions.length === 0 &&
    platformImageVersions(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!).length === 0
  ) {
    throw new ArmError(404, "NotFound", `Artifact: VMImage was not found.`);
  }
  return ok(
    versions.map((v) => ({ location: normalizeRegion(p["location"]!), name: v, id: platformImageId(ctx, p, v) })),
  );
}

export function getPlatformImageVersion(ctx: Ctx, p: Params): Reply {
  const versions = platformImageVersions(ctx.store, p["location"]!, p["publisher"]!, p["offer"]!, p["sku"]!);
  const version =
    p["version"]!.toLowerCase() === "latest" ? versions[versions.length - 1] : versions.find((v) => v === p["version"]);
  if (!version) throw new ArmError(404, "NotFound", "Artifact: VMImage was not found.");
  const windows = p["publisher"]!.toLowerCase().startsWith("microsoftwindows");
  return ok({
    location: normalizeRegion(p["location"]!),
    name: version,
    id: platformImageId(ctx, p, version),
    properties: {
      hyperVGeneration: "V2",
      architecture: "x64",
      osDiskImage: { operatingSystem: windows ? "Windows" : "Linux", sizeInGb: windows ? 127 : 30 },
      dataDiskImages: [],
      automaticOSUpgradeProperties: { automaticOSUpgradeSupported: false },
      imageDeprecationStatus: { imageState: "Active" },
    },
  });
}
