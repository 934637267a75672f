import {
  ArmError,
  cannotDeleteResource,
  invalidParameter,
  outOfRange,
  parentResourceNotFound,
  propertyChangeNotAllowed,
  requiredParameterMissing,
  resourceNotFound,
} from "./errors.js";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  isoTime,
  listOfType,
  lroHeaders,
  ok,
  page,
  provisioningTimes,
  requireResourceGroupForRead,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { compareVersionNames, globMatches, parseVersionName, regionDisplayName, sameRegion } from "./names.js";
import { versionStatus, type RegionReplication, type VersionSimulation } from "./simulation.js";
import type { Store, StoredResource } from "./store.js";

export const galleryType = "Microsoft.Compute/galleries";
export const imageDefinitionType = "Microsoft.Compute/galleries/images";
export const imageVersionType = "Microsoft.Compute/galleries/images/versions";

const storageAccountTypes = ["Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS"];

export function galleryId(s: string, rg: string, g: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${g}`;
}
export function imageDefinitionId(s: string, rg: string, g: string, i: string): string {
  return `${galleryId(s, rg, g)}/images/${i}`;
}
export function imageVersionId(s: string, rg: string, g: string, i: string, v: string): string {
  return `${imageDefinitionId(s, rg, g, i)}/versions/${v}`;
}

/** provisioningState of resources whose creation is a plain timed LRO. */
export function plainProvisioningState(resource: StoredResource, nowMs: number): string {
  if (resource.provisionedAtMs !== undefined && nowMs < resource.provisionedAtMs) {
    return resource.provisioningPhase === "update" ? "Updating" : "Creating";
  }
  return "Succeeded";
}

function requireLocation(body: Record<string, unknown>): string {
  const location = body["location"];
  if (typeof location !== "string" || location === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  return location;
}

function validateName(name: string, paramName: string, rule: RegExp, maxLength: number): void {
  if (!rule.test(name) || name.length > maxLength) {
    throw invalidParameter(
      `The entity name '${paramName}' is invalid according to its validation rule: ${rule.source}.`,
      paramName,
    );
  }
}

/** Timed LRO answer of the gallery RP: 201 (new) or 200 (existing) with Azure-AsyncOperation. */
function plainWriteReply(ctx: Ctx, resource: StoredResource, created: boolean, view: unknown): Reply {
  const op = startOperation(ctx, "compute", resource.location, {
    kind: "timer",
    completesAtMs: resource.provisionedAtMs ?? ctx.nowMs,
    resourceKey: resource.id.toLowerCase(),
  });
  return { status: created ? 201 : 200, body: view, headers: lroHeaders(ctx, op, { asyncOperation: true }) };
}

function deleteReply(ctx: Ctx, location: string): Reply {
  const op = startOperation(ctx, "compute", location, {
    kind: "timer",
    completesAtMs: ctx.nowMs + ctx.store.config.operationDurationInMs,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: true }) };
}

function userProperties(body: Record<string, unknown>, readOnly: string[]): Record<string, unknown> {
  const props = { ...asObject(body["properties"]) };
  for (const key of readOnly) delete props[key];
  return props;
}

// ---------------------------------------------------------------- galleries

export function galleryView(store: Store, g: StoredResource): unknown {
  return {
    id: g.id,
    name: g.name,
    type: galleryType,
    location: g.location,
    ...(g.tags ? { tags: g.tags } : {}),
    properties: {
      ...g.properties,
      identifier: { uniqueName: `${g.subscriptionId}-${g.name.toUpperCase()}` },
      provisioningState: plainProvisioningState(g, store.now()),
    },
  };
}

function getGallery(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const g = ctx.store.get(galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!));
  if (!g) throw resourceNotFound(galleryType, [p["gallery"]!], p["rg"]!);
  return g;
}

export function putGallery(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const location = requireLocation(body);
  validateName(p["gallery"]!, "galleryName", /^[A-Za-z0-9]+([_.]?[A-Za-z0-9]+)*$/, 80);
  const id = galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!);
  const existing = ctx.store.get(id);
  ensureResourceGroup(ctx, p["rg"]!, location);
  const resource: StoredResource = {
    id: existing?.id ?? id,
    type: galleryType,
    name: existing?.name ?? p["gallery"]!,
    location: existing?.location ?? location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: p["rg"]!,
    tags: tagsOf(body["tags"]),
    properties: userProperties(body, ["provisioningState", "identifier", "sharingStatus"]),
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(resource);
  return plainWriteReply(ctx, resource, !existing, galleryView(ctx.store, resource));
}

export function patchGallery(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const g = getGallery(ctx, p);
  if (body["tags"] !== undefined) g.tags = tagsOf(body["tags"]);
  g.properties = { ...g.properties, ...userProperties(body, ["provisioningState", "identifier", "sharingStatus"]) };
  g.updatedAtMs = ctx.nowMs;
  ctx.store.put(g);
  return plainWriteReply(ctx, g, false, galleryView(ctx.store, g));
}

export function getGalleryReply(ctx: Ctx, p: Params): Reply {
  return ok(galleryView(ctx.store, getGallery(ctx, p)));
}

export function deleteGallery(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const g = ctx.store.get(galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!));
  if (!g) return { status: 204 };
  const nested = ctx.store.childrenOf(g.id);
  if (nested.length > 0) throw cannotDeleteResource(nested.map((n) => n.id));
  ctx.store.delete(g.id);
  return deleteReply(ctx, g.location);
}

export function listGalleriesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, galleryType, galleryView, p["rg"]!);
}

export function listGalleries(ctx: Ctx): Reply {
  return listOfType(ctx, galleryType, galleryView);
}

// ---------------------------------------------------------------- image definitions

export function imageDefinitionView(store: Store, d: StoredResource): unknown {
  return {
    id: d.id,
    name: d.name,
    type: imageDefinitionType,
    location: d.location,
    ...(d.tags ? { tags: d.tags } : {}),
    properties: { ...d.properties, provisioningState: plainProvisioningState(d, store.now()) },
  };
}

function getDefinition(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const d = ctx.store.get(imageDefinitionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!));
  if (!d) throw resourceNotFound(imageDefinitionType, [p["gallery"]!, p["image"]!], p["rg"]!);
  return d;
}

const immutableDefinitionPaths: [string, (props: Record<string, unknown>) => unknown][] = [
  ["galleryImage.properties.osType", (x) => x["osType"]],
  ["galleryImage.properties.osState", (x) => x["osState"]],
  ["galleryImage.properties.hyperVGeneration", (x) => x["hyperVGeneration"]],
  ["galleryImage.properties.identifier.publisher", (x) => asObject(x["identifier"])["publisher"]],
  ["galleryImage.properties.identifier.offer", (x) => asObject(x["identifier"])["offer"]],
  ["galleryImage.properties.identifier.sku", (x) => asObject(x["identifier"])["sku"]],
];

function validateDefinitionProperties(props: Record<string, unknown>): void {
  if (props["osType"] === undefined) throw requiredParameterMissing("galleryImage.properties.osType");
  if (props["osState"] === undefined) throw requiredParameterMissing("galleryImage.properties.osState");
  if (props["identifier"] === undefined) throw requiredParameterMissing("galleryImage.properties.identifier");
  const identifier = asObject(props["identifier"]);
  for (const field of ["publisher", "offer", "sku"]) {
    if (typeof identifier[field] !== "string" || identifier[field] === "") {
      throw requiredParameterMissing(`galleryImage.properties.identifier.${field}`);
    }
  }
  if (!["Windows", "Linux"].includes(String(props["osType"]))) {
    throw invalidParameter(
      `The value '${String(props["osType"])}' of parameter 'galleryImage.properties.osType' is not valid.`,
      "galleryImage.properties.osType",
    );
  }
  if (!["Generalized", "Specialized"].includes(String(props["osState"]))) {
    throw invalidParameter(
      `The value '${String(props["osState"])}' of parameter 'galleryImage.properties.osState' is not valid.`,
      "galleryImage.properties.osState",
    );
  }
}

export function putImageDefinition(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForRead(ctx, p["rg"]!);
  const gallery = ctx.store.get(galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!));
  if (!gallery) throw parentResourceNotFound([p["gallery"]!]);
  const location = requireLocation(body);
  validateName(p["image"]!, "galleryImageName", /^[A-Za-z0-9]+([-._]?[A-Za-z0-9]+)*$/, 80);
  const props = userProperties(body, ["provisioningState"]);
  validateDefinitionProperties(props);
  const id = imageDefinitionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!);
  const existing = ctx.store.get(id);
  if (existing) {
    for (const [pathName, read] of immutableDefinitionPaths) {
      const before = read(existing.properties);
      const after = read(props);
      if (before !== undefined && after !== undefined && String(before) !== String(after)) {
        throw propertyChangeNotAllowed(pathName);
      }
    }
  }
  const resource: StoredResource = {
    id: existing?.id ?? id,
    type: imageDefinitionType,
    name: existing?.name ?? p["image"]!,
    location: existing?.location ?? location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: gallery.resourceGroup,
    tags: tagsOf(body["tags"]),
    properties: { hyperVGeneration: "V1", ...props },
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(resource);
  return plainWriteReply(ctx, resource, !existing, imageDefinitionView(ctx.store, resource));
}

export function patchImageDefinition(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const d = getDefinition(ctx, p);
  const props = userProperties(body, ["provisioningState"]);
  for (const [pathName, read] of immutableDefinitionPaths) {
    const after = read(props);
    if (after !== undefined && String(read(d.properties)) !== String(after)) throw propertyChangeNotAllowed(pathName);
  }
  if (body["tags"] !== undefined) d.tags = tagsOf(body["tags"]);
  d.properties = { ...d.properties, ...props };
  d.updatedAtMs = ctx.nowMs;
  ctx.store.put(d);
  return plainWriteReply(ctx, d, false, imageDefinitionView(ctx.store, d));
}

export function getImageDefinitionReply(ctx: Ctx, p: Params): Reply {
  return ok(imageDefinitionView(ctx.store, getDefinition(ctx, p)));
}

export function deleteImageDefinition(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const d = ctx.store.get(imageDefinitionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!));
  if (!d) return { status: 204 };
  const nested = ctx.store.childrenOf(d.id);
  if (nested.length > 0) throw cannotDeleteResource(nested.map((n) => n.id));
  ctx.store.delete(d.id);
  return deleteReply(ctx, d.location);
}

export function listImageDefinitions(ctx: Ctx, p: Params): Reply {
  const g = getGallery(ctx, p);
  return page(
    ctx,
    ctx.store.childrenOf(g.id, imageDefinitionType).map((d) => imageDefinitionView(ctx.store, d)),
  );
}

// ---------------------------------------------------------------- image versions

interface VersionNames {
  gallery: string;
  imageDefinition: string;
  version: string;
}

/** A new replication attempt for one region, with scripted or random failure decided now. */
export function newReplicationAttempt(
  store: Store,
  names: VersionNames,
  region: string,
  startMs: number,
): RegionReplication {
  let durationMs = store.config.replication.regionDurationInMs;
  let failureMessage: string | undefined;
  for (const entry of store.versionRules) {
    const rule = entry.rule;
    const matches =
      globMatches(rule.gallery, names.gallery) &&
      globMatches(rule.imageDefinition, names.imageDefinition) &&
      globMatches(rule.version, names.version);
    if (!matches) continue;
    if (rule.regionDurationInMs !== undefined && durationMs === store.config.replication.regionDurationInMs) {
      durationMs = rule.regionDurationInMs;
    }
    if (
      failureMessage === undefined &&
      rule.failRegion &&
      sameRegion(rule.failRegion, region) &&
      entry.remainingFailures > 0
    ) {
      entry.remainingFailures -= 1;
      failureMessage = rule.failureMessage ?? defaultReplicationFailure(region);
    }
  }
  if (
    failureMessage === undefined &&
    store.config.replication.failureRate > 0 &&
    Math.random() < store.config.replication.failureRate
  ) {
    failureMessage = defaultReplicationFailure(region);
  }
  return {
    region: regionDisplayName(region),
    startMs,
    durationMs,
    ...(failureMessage !== undefined ? { failureMessage } : {}),
  };
}

function defaultReplicationFailure(region: string): string {
  return (
    `Replication of the image version to region '${regionDisplayName(region)}' failed. ` +
    "Retry by updating the image version with the same target regions."
  );
}

interface TargetRegion {
  name: string;
  regionalReplicaCount: number;
  storageAccountType: string;
  excludeFromLatest: boolean;
  [key: string]: unknown;
}

/** Validates and fills the publishing profile the way the service echoes it. */
function normalizePublishingProfile(
  raw: Record<string, unknown>,
  location: string,
  publishedMs: number,
): Record<string, unknown> {
  const profile = { ...raw };
  const replicaCount = profile["replicaCount"] ?? 1;
  if (typeof replicaCount !== "number" || !Number.isInteger(replicaCount) || replicaCount < 1 || replicaCount > 100) {
    throw outOfRange("galleryImageVersion.properties.publishingProfile.replicaCount", replicaCount, 1, 100);
  }
  const storageAccountType = profile["storageAccountType"] ?? "Standard_LRS";
  if (!storageAccountTypes.includes(String(storageAccountType))) {
    throw invalidParameter(
      `The value '${String(storageAccountType)}' of parameter 'galleryImageVersion.properties.publishingProfile.storageAccountType' is not valid.`,
      "galleryImageVersion.properties.publishingProfile.storageAccountType",
    );
  }
  const excludeFromLatest = profile["excludeFromLatest"] === true;
  if (profile["endOfLifeDate"] !== undefined && Number.isNaN(Date.parse(String(profile["endOfLifeDate"])))) {
    throw invalidParameter(
      `The value '${String(profile["endOfLifeDate"])}' of parameter 'galleryImageVersion.properties.publishingProfile.endOfLifeDate' is not valid.`,
      "galleryImageVersion.properties.publishingProfile.endOfLifeDate",
    );
  }
  const rawRegions = Array.isArray(profile["targetRegions"])
    ? (profile["targetRegions"] as unknown[])
    : [{ name: location }];
  const seen = new Set<string>();
  const targetRegions: TargetRegion[] = rawRegions.map((r, i) => {
    const region = asObject(r);
    const target = `galleryImageVersion.properties.publishingProfile.targetRegions[${i}]`;
    if (typeof region["name"] !== "string" || region["name"] === "") throw requiredParameterMissing(`${target}.name`);
    const key = regionDisplayName(region["name"]).toLowerCase();
    if (seen.has(key)) {
      throw invalidParameter(`Duplicate region '${region["name"]}' in target regions.`, `${target}.name`);
    }
    seen.add(key);
    const count = region["regionalReplicaCount"] ?? replicaCount;
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 100) {
      throw outOfRange(`${target}.regionalReplicaCount`, count, 1, 100);
    }
    return {
      ...region,
      name: regionDisplayName(region["name"]),
      regionalReplicaCount: count,
      storageAccountType: String(region["storageAccountType"] ?? storageAccountType),
      excludeFromLatest:
        typeof region["excludeFromLatest"] === "boolean" ? region["excludeFromLatest"] : excludeFromLatest,
    };
  });
  return {
    ...profile,
    targetRegions,
    replicaCount,
    storageAccountType,
    excludeFromLatest,
    publishedDate: isoTime(publishedMs),
  };
}

function validateVersionName(name: string): void {
  if (!parseVersionName(name)) {
    throw invalidParameter(
      "The entity name 'galleryImageVersionName' is invalid according to its validation rule: " +
        "^[0-9]+(?:\\.[0-9]+){2}$ (Major.Minor.Patch, each an int32).",
      "galleryImageVersionName",
    );
  }
}

function sourceIdOf(storageProfile: Record<string, unknown>): string | undefined {
  const source = asObject(storageProfile["source"]);
  const id = source["id"] ?? source["virtualMachineId"];
  if (typeof id === "string") return id;
  const osSource = asObject(asObject(storageProfile["osDiskImage"])["source"]);
  return typeof osSource["id"] === "string" ? osSource["id"] : undefined;
}

/** A source that names a managed image or a gallery image version must exist (other kinds are taken on trust). */
function checkSourceExists(store: Store, sourceId: string | undefined): StoredResource | undefined {
  if (!sourceId) return undefined;
  const lower = sourceId.toLowerCase();
  const isImage = /\/providers\/microsoft\.compute\/images\/[^/]+$/.test(lower);
  const isVersion = /\/providers\/microsoft\.compute\/galleries\/[^/]+\/images\/[^/]+\/versions\/[^/]+$/.test(lower);
  if (!isImage && !isVersion) return undefined;
  const source = store.get(sourceId);
  if (!source) {
    throw new ArmError(
      404,
      "NotFound",
      `Source ${isImage ? "image" : "image version"} '${sourceId}' specified in the request does not exist in this Azure location.`,
      "galleryImageVersion.properties.storageProfile.source.id",
    );
  }
  return source;
}

function diskSizeOf(source: StoredResource | undefined): number {
  const osDisk = asObject(asObject(source?.properties["storageProfile"])["osDisk"]);
  if (typeof osDisk["diskSizeGB"] === "number") return osDisk["diskSizeGB"];
  const osDiskImage = asObject(asObject(source?.properties["storageProfile"])["osDiskImage"]);
  return typeof osDiskImage["sizeInGB"] === "number" ? osDiskImage["sizeInGB"] : 30;
}

/**
 * Reconciles the replication timeline with the requested target regions: kept regions keep their state, new
 * regions and regions whose replication Failed start a new attempt (that is how a failed region is retried).
 */
function reconcileReplication(
  store: Store,
  names: VersionNames,
  current: VersionSimulation | undefined,
  targetRegions: TargetRegion[],
  nowMs: number,
): VersionSimulation {
  const regions: RegionReplication[] = [];
  let nextStartMs = nowMs;
  for (const target of targetRegions) {
    const previous = current?.regions.find((r) => sameRegion(r.region, target.name));
    if (previous) {
      const status = versionStatus({ phase: "update", regions: [previous] }, nowMs).summary[0];
      if (status?.state !== "Failed") {
        regions.push(previous);
        nextStartMs = Math.max(nextStartMs, previous.startMs + previous.durationMs);
        continue;
      }
    }
    const attempt = newReplicationAttempt(store, names, target.name, nextStartMs);
    regions.push(attempt);
    nextStartMs = attempt.startMs + attempt.durationMs;
  }
  return { phase: current ? "update" : "create", regions };
}

export function imageVersionView(store: Store, v: StoredResource, expandReplication: boolean): unknown {
  const status = versionStatus(v.replication ?? { phase: "create", regions: [] }, store.now());
  const properties: Record<string, unknown> = { ...v.properties, provisioningState: status.provisioningState };
  if (expandReplication) {
    properties["replicationStatus"] = { aggregatedState: status.aggregatedState, summary: status.summary };
  }
  return {
    id: v.id,
    name: v.name,
    type: imageVersionType,
    location: v.location,
    ...(v.tags ? { tags: v.tags } : {}),
    properties,
  };
}

function getVersion(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const v = ctx.store.get(imageVersionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!, p["version"]!));
  if (!v) throw resourceNotFound(imageVersionType, [p["gallery"]!, p["image"]!, p["version"]!], p["rg"]!);
  return v;
}

function versionWriteReply(ctx: Ctx, v: StoredResource, created: boolean): Reply {
  const op = startOperation(ctx, "compute", v.location, { kind: "version", resourceKey: v.id.toLowerCase() });
  return {
    status: created ? 201 : 200,
    body: imageVersionView(ctx.store, v, false),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

export interface VersionInput {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  imageDefinition: string;
  version: string;
  body: Record<string, unknown>;
  /** Seeding trusts its sources. */
  skipSourceCheck?: boolean;
}

/** Creates or replaces a version (PUT semantics), shared by the ARM handler, Image Builder and seeding. */
export function writeVersion(
  store: Store,
  input: VersionInput,
  nowMs: number,
): { version: StoredResource; created: boolean } {
  const { subscriptionId: s, resourceGroup: rg, gallery, imageDefinition, version: name, body } = input;
  const definition = store.get(imageDefinitionId(s, rg, gallery, imageDefinition));
  if (!definition) throw parentResourceNotFound([gallery, imageDefinition]);
  validateVersionName(name);
  const location = requireLocation(body);
  const props = userProperties(body, ["provisioningState", "replicationStatus"]);
  if (props["storageProfile"] === undefined)
    throw requiredParameterMissing("galleryImageVersion.properties.storageProfile");
  const id = imageVersionId(s, rg, gallery, imageDefinition, name);
  const existing = store.get(id);
  const storageProfile = asObject(props["storageProfile"]);
  const sourceId = sourceIdOf(storageProfile);
  if (existing) {
    const before = sourceIdOf(asObject(existing.properties["storageProfile"]));
    if (before && sourceId && before.toLowerCase() !== sourceId.toLowerCase()) {
      throw propertyChangeNotAllowed("galleryImageVersion.properties.storageProfile.source.id");
    }
  }
  const source = existing || input.skipSourceCheck ? undefined : checkSourceExists(store, sourceId);
  const publishingProfile = normalizePublishingProfile(
    asObject(props["publishingProfile"]),
    location,
    existing?.createdAtMs ?? nowMs,
  );
  const osDiskImage = asObject(storageProfile["osDiskImage"]);
  const existingStorage = asObject(existing?.properties["storageProfile"]);
  const safety = asObject(props["safetyProfile"]);
  const resource: StoredResource = {
    id: existing?.id ?? id,
    type: imageVersionType,
    name: existing?.name ?? name,
    location: existing?.location ?? location,
    subscriptionId: s,
    resourceGroup: definition.resourceGroup,
    tags: tagsOf(body["tags"]),
    properties: {
      ...props,
      publishingProfile,
      storageProfile: existing
        ? { ...existingStorage, ...storageProfile, osDiskImage: existingStorage["osDiskImage"] }
        : {
            ...storageProfile,
            osDiskImage: { hostCaching: "ReadWrite", ...osDiskImage, sizeInGB: diskSizeOf(source) },
            dataDiskImages: Array.isArray(storageProfile["dataDiskImages"]) ? storageProfile["dataDiskImages"] : [],
          },
      safetyProfile: {
        allowDeletionOfReplicatedLocations: safety["allowDeletionOfReplicatedLocations"] ?? true,
        reportedForPolicyViolation: false,
        blockDeletionBeforeEndOfLife: safety["blockDeletionBeforeEndOfLife"] ?? false,
      },
    },
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
    replication: reconcileReplication(
      store,
      { gallery, imageDefinition, version: name },
      existing?.replication,
      publishingProfile["targetRegions"] as TargetRegion[],
      nowMs,
    ),
  };
  store.put(resource);
  return { version: resource, created: !existing };
}

export function putImageVersion(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForRead(ctx, p["rg"]!);
  const { version, created } = writeVersion(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      gallery: p["gallery"]!,
      imageDefinition: p["image"]!,
      version: p["version"]!,
      body,
    },
    ctx.nowMs,
  );
  return versionWriteReply(ctx, version, created);
}

export function patchImageVersion(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const v = getVersion(ctx, p);
  const patch = asObject(body["properties"]);
  const merged: Record<string, unknown> = {
    location: v.location,
    tags: body["tags"] !== undefined ? body["tags"] : v.tags,
    properties: {
      ...v.properties,
      ...patch,
      publishingProfile: { ...asObject(v.properties["publishingProfile"]), ...asObject(patch["publishingProfile"]) },
      storageProfile: { ...asObject(v.properties["storageProfile"]), ...asObject(patch["storageProfile"]) },
      safetyProfile: { ...asObject(v.properties["safetyProfile"]), ...asObject(patch["safetyProfile"]) },
    },
  };
  // A global excludeFromLatest change applies to regions that do not set their own in this request.
  const patchProfile = asObject(patch["publishingProfile"]);
  if (typeof patchProfile["excludeFromLatest"] === "boolean" && !Array.isArray(patchProfile["targetRegions"])) {
    const mergedProfile = asObject(asObject(merged["properties"])["publishingProfile"]);
    mergedProfile["targetRegions"] = (mergedProfile["targetRegions"] as TargetRegion[]).map((t) => ({
      ...t,
      excludeFromLatest: patchProfile["excludeFromLatest"],
    }));
  }
  const { version } = writeVersion(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      gallery: p["gallery"]!,
      imageDefinition: p["image"]!,
      version: v.name,
      body: merged,
    },
    ctx.nowMs,
  );
  return versionWriteReply(ctx, version, false);
}

export function getImageVersionReply(ctx: Ctx, p: Params): Reply {
  const expand = (ctx.url.searchParams.get("$expand") ?? "").toLowerCase() === "replicationstatus";
  return ok(imageVersionView(ctx.store, getVersion(ctx, p), expand));
}

export function deleteImageVersion(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const v = ctx.store.get(imageVersionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!, p["version"]!));
  if (!v) return { status: 204 };
  const safety = asObject(v.properties["safetyProfile"]);
  const endOfLife = asObject(v.properties["publishingProfile"])["endOfLifeDate"];
  if (
    safety["blockDeletionBeforeEndOfLife"] === true &&
    typeof endOfLife === "string" &&
    ctx.nowMs < Date.parse(endOfLife)
  ) {
    throw new ArmError(
      409,
      "OperationNotAllowed",
      `Gallery image version '${v.id}' cannot be deleted before its end of life date '${endOfLife}' because ` +
        "'safetyProfile.blockDeletionBeforeEndOfLife' is set.",
    );
  }
  ctx.store.delete(v.id);
  return deleteReply(ctx, v.location);
}

export function listImageVersions(ctx: Ctx, p: Params): Reply {
  const d = getDefinition(ctx, p);
  return page(
    ctx,
    ctx.store.childrenOf(d.id, imageVersionType).map((v) => imageVersionView(ctx.store, v, false)),
  );
}

/**
 * What `latest` resolves to: the highest Major.Minor.Patch that is not excluded from latest (globally, or in the
 * given region) and, when a region is given, has finished replicating there.
 */
export function resolveLatest(store: Store, definitionId: string, region?: string): StoredResource | undefined {
  const nowMs = store.now();
  const candidates = store.childrenOf(definitionId, imageVersionType).filter((v) => {
    const profile = asObject(v.properties["publishingProfile"]);
    if (profile["excludeFromLatest"] === true) return false;
    const status = versionStatus(v.replication ?? { phase: "create", regions: [] }, nowMs);
    if (region === undefined) return status.summary.some((s) => s.state === "Completed");
    const target = (profile["targetRegions"] as TargetRegion[] | undefined)?.find((t) => sameRegion(t.name, region));
    if (!target || target.excludeFromLatest) return false;
    return status.summary.some((s) => sameRegion(s.region, region) && s.state === "Completed");
  });
  candidates.sort((a, b) => compareVersionNames(b.name, a.name));
  return candidates[0];
}
