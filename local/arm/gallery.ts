import {
  ArmError,
  cannotDeleteResource,
  invalidParameter,
  markedForDeletion,
  outOfRange,
  parentResourceNotFound,
  propertyChangeNotAllowed,
  requiredParameterMissing,
  resourceNotFound,
} from "./errors.js";
import {
  apiVersionAtLeast,
  asObject,
  bodyObject,
  ensureResourceGroup,
  isoTime,
  listOfType,
  lroHeaders,
  ok,
  page,
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
import {
  compareVersionNames,
  globMatches,
  normalizeRegion,
  parseVersionName,
  regionDisplayName,
  sameRegion,
} from "./names.js";
import { regionServes, versionStatus, type RegionReplication, type VersionSimulation } from "./simulation.js";
import type { Store, StoredResource } from "./store.js";

export { plainProvisioningState };

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

/**
 * DELETE of a gallery resource: the resource reports Deleting for `deleteDurationInMs`, then disappears; 202 with
 * Azure-AsyncOperation and Location that complete then.
 */
export function startDeletion(ctx: Ctx, resource: StoredResource): Reply {
  resource.deletingUntilMs ??= ctx.nowMs + ctx.store.config.deleteDurationInMs;
  ctx.store.touch(resource);
  const op = startOperation(ctx, "compute", resource.location, {
    kind: "timer",
    completesAtMs: resource.deletingUntilMs,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: true }) };
}

function userProperties(body: Record<string, unknown>, readOnly: string[]): Record<string, unknown> {
  const props = { ...asObject(body["properties"]) };
  for (const key of readOnly) delete props[key];
  return props;
}

/** The gallery RP leaves empty objects and arrays out of its answers (`disallowed: {}`, `features: []`). */
function withoutEmptyObjects(props: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(props).filter(([, v]) => !(typeof v === "object" && v !== null && Object.keys(v).length === 0)),
  );
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
  ensureResourceGroup(ctx, p["rg"]!, location);
  const id = galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!);
  const existing = ctx.store.get(id);
  if (existing?.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery", existing.name);
  const resource: StoredResource = {
    id: existing?.id ?? id,
    type: galleryType,
    name: existing?.name ?? p["gallery"]!,
    location: existing?.location ?? location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: existing?.resourceGroup ?? p["rg"]!,
    tags: tagsOf(body["tags"]),
    properties: userProperties(body, ["provisioningState", "identifier", "sharingStatus"]),
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(resource);
  return plainWriteReply(ctx, resource, !existing, galleryView(ctx.store, resource));
}

export function patchGallery(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const g = getGallery(ctx, p);
  if (g.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery", g.name);
  if (body["tags"] !== undefined) g.tags = tagsOf(body["tags"]);
  g.properties = { ...g.properties, ...userProperties(body, ["provisioningState", "identifier", "sharingStatus"]) };
  Object.assign(g, provisioningTimes(ctx, g));
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
  return startDeletion(ctx, g);
}

export function listGalleriesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, galleryType, galleryView, p["rg"]!);
}

export function listGalleries(ctx: Ctx): Reply {
  return listOfType(ctx, galleryType, galleryView);
}

// ---------------------------------------------------------------- image definitions

/** `features[].SecurityType` of a definition ("Standard" when unset). */
export function securityTypeOf(props: Record<string, unknown>): string {
  const features = Array.isArray(props["features"]) ? (props["features"] as unknown[]) : [];
  const feature = features.map(asObject).find((f) => String(f["name"]).toLowerCase() === "securitytype");
  return feature ? String(feature["value"]) : "Standard";
}

/** Security types that accept a Trusted-Launch-capable Gen2 image without VM guest state. */
export const trustedLaunchCapableTypes = [
  "TrustedLaunchSupported",
  "TrustedLaunchAndConfidentialVmSupported",
  "ConfidentialVMSupported",
];

export function imageDefinitionView(store: Store, d: StoredResource): unknown {
  return {
    id: d.id,
    name: d.name,
    type: imageDefinitionType,
    location: d.location,
    ...(d.tags ? { tags: d.tags } : {}),
    properties: { ...withoutEmptyObjects(d.properties), provisioningState: plainProvisioningState(d, store.now()) },
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
  const enums: [string, unknown, string[]][] = [
    ["osType", props["osType"], ["Windows", "Linux"]],
    ["osState", props["osState"], ["Generalized", "Specialized"]],
    ["hyperVGeneration", props["hyperVGeneration"] ?? "V1", ["V1", "V2"]],
    ["architecture", props["architecture"] ?? "x64", ["x64", "Arm64"]],
  ];
  for (const [name, value, allowed] of enums) {
    if (!allowed.includes(String(value))) {
      throw invalidParameter(
        `The value '${String(value)}' of parameter 'galleryImage.properties.${name}' is not valid.`,
        `galleryImage.properties.${name}`,
      );
    }
  }
}

/**
 * Defaults of a new definition: from api-version 2025-03-03, hyperVGeneration V2 and SecurityType
 * TrustedLaunchSupported (compute-gallery-whats-new.md, July 2025); before, V1 and no security type; architecture x64.
 */
function definitionDefaults(props: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  const modern = apiVersionAtLeast(apiVersion, "2025-03-03");
  const hyperVGeneration = props["hyperVGeneration"] ?? (modern ? "V2" : "V1");
  const out: Record<string, unknown> = { hyperVGeneration, architecture: "x64", ...props };
  if (modern && hyperVGeneration === "V2" && securityTypeOf(out) === "Standard" && !hasSecurityFeature(out)) {
    out["features"] = [
      ...(Array.isArray(props["features"]) ? (props["features"] as unknown[]) : []),
      { name: "SecurityType", value: "TrustedLaunchSupported" },
    ];
  }
  return out;
}

function hasSecurityFeature(props: Record<string, unknown>): boolean {
  const features = Array.isArray(props["features"]) ? (props["features"] as unknown[]) : [];
  return features.map(asObject).some((f) => String(f["name"]).toLowerCase() === "securitytype");
}

export function putImageDefinition(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const gallery = ctx.store.get(galleryId(ctx.subscriptionId, p["rg"]!, p["gallery"]!));
  if (!gallery || gallery.deletingUntilMs !== undefined) throw parentResourceNotFound([p["gallery"]!]);
  const location = requireLocation(body);
  validateName(p["image"]!, "galleryImageName", /^[A-Za-z0-9]+([-._]?[A-Za-z0-9]+)*$/, 80);
  const props = userProperties(body, ["provisioningState"]);
  validateDefinitionProperties(props);
  const id = imageDefinitionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!);
  const existing = ctx.store.get(id);
  if (existing?.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery Image", existing.name);
  if (existing) {
    for (const [pathName, read] of immutableDefinitionPaths) {
      const before = read(existing.properties);
      const after = read(props);
      if (before !== undefined && after !== undefined && String(before) !== String(after)) {
        throw propertyChangeNotAllowed(pathName);
      }
    }
  } else {
    const identifier = asObject(props["identifier"]);
    const same = ctx.store.childrenOf(gallery.id, imageDefinitionType).find((d) => {
      const other = asObject(d.properties["identifier"]);
      return ["publisher", "offer", "sku"].every(
        (f) => String(other[f]).toLowerCase() === String(identifier[f]).toLowerCase(),
      );
    });
    if (same) {
      throw new ArmError(
        409,
        "Conflict",
        `Gallery image: ${same.name} identified by (publisher:${String(identifier["publisher"])}, offer:` +
          `${String(identifier["offer"])}, sku:${String(identifier["sku"])}) already exists. Choose a different ` +
          "publisher, offer, sku combination.",
      );
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
    properties: existing ? { ...existing.properties, ...props } : definitionDefaults(props, ctx.apiVersion),
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(resource);
  return plainWriteReply(ctx, resource, !existing, imageDefinitionView(ctx.store, resource));
}

export function patchImageDefinition(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const d = getDefinition(ctx, p);
  if (d.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery Image", d.name);
  const props = userProperties(body, ["provisioningState"]);
  for (const [pathName, read] of immutableDefinitionPaths) {
    const after = read(props);
    if (after !== undefined && String(read(d.properties)) !== String(after)) throw propertyChangeNotAllowed(pathName);
  }
  if (body["tags"] !== undefined) d.tags = tagsOf(body["tags"]);
  d.properties = { ...d.properties, ...props };
  Object.assign(d, provisioningTimes(ctx, d));
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
  return startDeletion(ctx, d);
}

export function listImageDefinitions(ctx: Ctx, p: Params): Reply {
  const g = getGallery(ctx, p);
  return page(
    ctx,
    ctx.store.childrenOf(g.id, imageDefinitionType).map((d) => imageDefinitionView(ctx.store, d)),
  );
}

// ---------------------------------------------------------------- image versions: replication

interface VersionNames {
  gallery: string;
  imageDefinition: string;
  version: string;
}

/** Azure's per-region detail of a failed replication (troubleshooting-shared-images.md). */
export function defaultReplicationFailure(): string {
  return "Replication failed in this region due to 'Failed with internal server error.'";
}

/**
 * A new replication attempt for one region, with scripted or random failure decided now. `readdedAfterRuleId` names
 * the sticky rule whose failed region was removed and added back (the re-add that a "readd" rule waits for).
 */
export function newReplicationAttempt(
  store: Store,
  names: VersionNames,
  region: string,
  startMs: number,
  readdedAfterRuleId?: string,
): RegionReplication {
  let durationMs = store.config.replication.regionDurationInMs;
  let failureMessage: string | undefined;
  let stickyRuleId: string | undefined;
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
    if (failureMessage !== undefined || !rule.failRegion || !sameRegion(rule.failRegion, region)) continue;
    const recovery = rule.recovery ?? "retry";
    if (recovery === "retry") {
      if (entry.remainingFailures > 0) {
        entry.remainingFailures -= 1;
        store.changed();
        failureMessage = rule.failureMessage ?? defaultReplicationFailure();
      }
    } else if (recovery === "never" || readdedAfterRuleId !== entry.id) {
      failureMessage = rule.failureMessage ?? defaultReplicationFailure();
      stickyRuleId = entry.id;
    }
  }
  if (
    failureMessage === undefined &&
    store.config.replication.failureRate > 0 &&
    Math.random() < store.config.replication.failureRate
  ) {
    failureMessage = defaultReplicationFailure();
  }
  return {
    region: regionDisplayName(region),
    startMs,
    durationMs,
    ...(failureMessage !== undefined ? { failureMessage } : {}),
    ...(stickyRuleId !== undefined ? { stickyRuleId } : {}),
  };
}

interface TargetRegion {
  name: string;
  regionalReplicaCount: number;
  storageAccountType: string;
  excludeFromLatest?: boolean;
  [key: string]: unknown;
}

/**
 * Reconciles the replication timeline with the requested target regions: kept regions keep their state; a region
 * whose replication Failed starts a new attempt (that is how a failed region is retried); a region whose replica
 * count changes starts a new attempt too, during which the replicas it already had keep serving [V20]; new regions
 * start; removed regions are dropped (remembering those removed while failed, for "readd" rules).
 */
function reconcileReplication(
  store: Store,
  names: VersionNames,
  current: VersionSimulation | undefined,
  targetRegions: TargetRegion[],
  nowMs: number,
  heldTargets: readonly TargetRegion[] = [],
): VersionSimulation {
  const removedWhileFailed = { ...(current?.removedWhileFailed ?? {}) };
  for (const previous of current?.regions ?? []) {
    if (targetRegions.some((t) => sameRegion(t.name, previous.region))) continue;
    const state = versionStatus({ phase: "update", regions: [previous] }, nowMs).summary[0]?.state;
    if (state === "Failed" && previous.stickyRuleId) {
      removedWhileFailed[normalizeRegion(previous.region)] = previous.stickyRuleId;
    }
  }
  const regions: RegionReplication[] = [];
  let nextStartMs = nowMs;
  for (const target of targetRegions) {
    const previous = current?.regions.find((r) => sameRegion(r.region, target.name));
    const held = heldTargets.find((t) => sameRegion(t.name, target.name));
    const countChanged = held !== undefined && held.regionalReplicaCount !== target.regionalReplicaCount;
    if (previous) {
      const status = versionStatus({ phase: "update", regions: [previous] }, nowMs).summary[0];
      if (status?.state !== "Failed" && !countChanged) {
        regions.push(previous);
        nextStartMs = Math.max(nextStartMs, previous.startMs + previous.durationMs);
        continue;
      }
    }
    const key = normalizeRegion(target.name);
    const readded = previous ? undefined : removedWhileFailed[key];
    if (readded !== undefined) delete removedWhileFailed[key];
    const attempt = newReplicationAttempt(store, names, target.name, nextStartMs, readded);
    // Replicas added to (or removed from) a region that holds the version: the ones it has keep serving.
    if (previous && countChanged && regionServes(previous, nowMs)) attempt.servedBefore = true;
    regions.push(attempt);
    nextStartMs = attempt.startMs + attempt.durationMs;
  }
  return {
    phase: current ? "update" : "create",
    regions,
    ...(Object.keys(removedWhileFailed).length > 0 ? { removedWhileFailed } : {}),
  };
}

// ---------------------------------------------------------------- image versions: validation

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
    const key = normalizeRegion(region["name"]);
    if (seen.has(key)) {
      throw invalidParameter("Duplicate regions are not allowed in target publishing regions.", `${target}.name`);
    }
    seen.add(key);
    const count = region["regionalReplicaCount"] ?? replicaCount;
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 100) {
      throw outOfRange(`${target}.regionalReplicaCount`, count, 1, 100);
    }
    const regionStorage = region["storageAccountType"] ?? storageAccountType;
    if (!storageAccountTypes.includes(String(regionStorage))) {
      throw invalidParameter(
        `The value '${String(regionStorage)}' of parameter '${target}.storageAccountType' is not valid.`,
        `${target}.storageAccountType`,
      );
    }
    const encryption = asObject(region["encryption"]);
    const out: TargetRegion = {
      ...region,
      // The gallery RP answers an OS disk encryption with an (empty) securityProfile of its own.
      ...(encryption["osDiskImage"] !== undefined
        ? {
            encryption: {
              ...encryption,
              osDiskImage: { securityProfile: {}, ...asObject(encryption["osDiskImage"]) },
            },
          }
        : {}),
      name: regionDisplayName(region["name"]),
      regionalReplicaCount: count,
      storageAccountType: String(regionStorage),
    };
    // Unset per-region excludeFromLatest stays unset: the version-level flag applies (recorded answers omit it).
    if (typeof region["excludeFromLatest"] !== "boolean") delete out.excludeFromLatest;
    return out;
  });
  if (!targetRegions.some((t) => sameRegion(t.name, location))) {
    throw invalidParameter(
      `Gallery image version publishing profile regions '${targetRegions.map((t) => t.name).join(", ")}' must ` +
        `contain the location of image version '${location}'.`,
      "galleryImageVersion.properties.publishingProfile.targetRegions",
    );
  }
  return {
    ...profile,
    targetRegions,
    replicaCount,
    storageAccountType,
    excludeFromLatest: profile["excludeFromLatest"] === true,
    publishedDate: isoTime(publishedMs),
  };
}

function validateVersionName(name: string): void {
  if (!parseVersionName(name)) {
    throw invalidParameter(
      "The image version name is invalid. The image version name should follow Major(int).Minor(int).Patch(int) " +
        "format, for e.g: 1.0.0, 2018.12.1 etc",
      "galleryImageVersionName",
    );
  }
}

/** The source a version is made from: a resource (image, version, VM, disk, snapshot) or a VHD blob. */
interface VersionSource {
  kind: "managedImage" | "imageVersion" | "virtualMachine" | "disk" | "snapshot" | "vhd" | "none";
  id?: string;
}

function sourceOf(storageProfile: Record<string, unknown>): VersionSource {
  const source = asObject(storageProfile["source"]);
  const osSource = asObject(asObject(storageProfile["osDiskImage"])["source"]);
  const id = [source["id"], source["virtualMachineId"], osSource["id"]].find((x) => typeof x === "string" && x !== "");
  if (typeof id === "string") {
    const lower = id.toLowerCase();
    if (/\/providers\/microsoft\.compute\/images\/[^/]+$/.test(lower)) return { kind: "managedImage", id };
    if (/\/galleries\/[^/]+\/images\/[^/]+\/versions\/[^/]+$/.test(lower)) return { kind: "imageVersion", id };
    if (/\/providers\/microsoft\.compute\/virtualmachines\/[^/]+$/.test(lower)) return { kind: "virtualMachine", id };
    if (/\/providers\/microsoft\.compute\/disks\/[^/]+$/.test(lower)) return { kind: "disk", id };
    if (/\/providers\/microsoft\.compute\/snapshots\/[^/]+$/.test(lower)) return { kind: "snapshot", id };
    return { kind: "none", id };
  }
  if (typeof source["uri"] === "string" || typeof osSource["uri"] === "string") return { kind: "vhd" };
  return { kind: "none" };
}

/** What the rules compare of a source: OS type, OS state, Hyper-V generation, disk size, security data. */
interface SourceFacts {
  osType?: string;
  osState?: string;
  hyperVGeneration?: string;
  sizeInGB?: number;
  dataDisks: { lun: number; sizeInGB: number; hostCaching: string }[];
  /** The VM runs as Trusted Launch / Confidential VM (its guest state cannot go into a *Supported image). */
  securityType?: string;
}

function factsOf(store: Store, source: VersionSource, resource: StoredResource): SourceFacts {
  const props = resource.properties;
  switch (source.kind) {
    case "managedImage": {
      const storage = asObject(props["storageProfile"]);
      const osDisk = asObject(storage["osDisk"]);
      const dataDisks = Array.isArray(storage["dataDisks"]) ? (storage["dataDisks"] as unknown[]).map(asObject) : [];
      return {
        osType: String(osDisk["osType"] ?? ""),
        osState: String(osDisk["osState"] ?? "Generalized"),
        hyperVGeneration: String(props["hyperVGeneration"] ?? "V1"),
        sizeInGB: typeof osDisk["diskSizeGB"] === "number" ? osDisk["diskSizeGB"] : undefined,
        dataDisks: dataDisks.map((d) => ({
          lun: Number(d["lun"]),
          sizeInGB: Number(d["diskSizeGB"] ?? 0),
          hostCaching: String(d["caching"] ?? "None"),
        })),
      };
    }
    case "imageVersion": {
      const definition = store.get(resource.id.replace(/\/versions\/[^/]+$/i, ""));
      const dProps = definition?.properties ?? {};
      const storage = asObject(props["storageProfile"]);
      return {
        osType: String(dProps["osType"] ?? ""),
        osState: String(dProps["osState"] ?? ""),
        hyperVGeneration: String(dProps["hyperVGeneration"] ?? "V1"),
        sizeInGB: Number(asObject(storage["osDiskImage"])["sizeInGB"] ?? 30),
        dataDisks: (Array.isArray(storage["dataDiskImages"]) ? (storage["dataDiskImages"] as unknown[]) : [])
          .map(asObject)
          .map((d) => ({ lun: Number(d["lun"]), sizeInGB: Number(d["sizeInGB"] ?? 0), hostCaching: "None" })),
      };
    }
    case "virtualMachine": {
      const osDisk = asObject(asObject(props["storageProfile"])["osDisk"]);
      const instanceView = asObject(props["instanceView"]);
      const statuses = Array.isArray(instanceView["statuses"]) ? (instanceView["statuses"] as unknown[]) : [];
      const generalized = statuses.map(asObject).some((s) => String(s["code"]).toLowerCase() === "osstate/generalized");
      return {
        osType: String(osDisk["osType"] ?? ""),
        osState: generalized ? "Generalized" : "Specialized",
        hyperVGeneration: String(instanceView["hyperVGeneration"] ?? props["hyperVGeneration"] ?? "V1"),
        sizeInGB: typeof osDisk["diskSizeGB"] === "number" ? osDisk["diskSizeGB"] : undefined,
        dataDisks: [],
        securityType: String(asObject(props["securityProfile"])["securityType"] ?? "Standard"),
      };
    }
    case "disk":
    case "snapshot":
      // A disk created empty carries no OS type or generation: nothing to compare.
      return {
        osType: String(props["osType"] ?? ""),
        hyperVGeneration: typeof props["hyperVGeneration"] === "string" ? props["hyperVGeneration"] : undefined,
        sizeInGB: typeof props["diskSizeGB"] === "number" ? props["diskSizeGB"] : undefined,
        dataDisks: [],
        securityType: String(asObject(props["securityProfile"])["securityType"] ?? "Standard"),
      };
    default:
      return { dataDisks: [] };
  }
}

const sourceTarget = "galleryImageVersion.properties.storageProfile.source.id";

/**
 * The synchronous source rules: the source exists and is in the version's region [V2], its kind suits the
 * definition's security type [V3, V4], Confidential VM encryption is set per region [V5].
 */
function checkSource(
  store: Store,
  definition: StoredResource,
  source: VersionSource,
  location: string,
  targetRegions: TargetRegion[],
): StoredResource | undefined {
  const securityType = securityTypeOf(definition.properties);
  const sourceLabel = source.id ?? "";
  const refuseKind = (allowed: string) =>
    invalidParameter(
      `The security type '${securityType}' is not supported for the source id '${sourceLabel}'. Currently only ` +
        `${allowed} sources are supported for '${securityType}' images.`,
      sourceTarget,
    );
  if (trustedLaunchCapableTypes.includes(securityType)) {
    // A VM, disk or snapshot with Trusted Launch / Confidential VM security data meets V19 (asynchronous) instead.
    const carriesSecurityData =
      ["virtualMachine", "disk", "snapshot"].includes(source.kind) &&
      source.id !== undefined &&
      ["TrustedLaunch", "ConfidentialVM"].includes(
        String(asObject(store.get(source.id)?.properties["securityProfile"])["securityType"] ?? ""),
      );
    if (!["managedImage", "imageVersion", "vhd"].includes(source.kind) && !carriesSecurityData) {
      throw refuseKind("Vhd Blob, User Image and Gallery Image Version");
    }
  } else if (securityType === "TrustedLaunch" || securityType === "ConfidentialVM") {
    if (!["virtualMachine", "disk", "snapshot", "imageVersion"].includes(source.kind)) {
      throw refuseKind("Virtual Machine, Managed Disk, Snapshot and Gallery Image Version");
    }
  }
  if (securityType === "ConfidentialVM") {
    for (const [i, t] of targetRegions.entries()) {
      const encryptionType = asObject(asObject(asObject(t["encryption"])["osDiskImage"])["securityProfile"])[
        "confidentialVMEncryptionType"
      ];
      if (typeof encryptionType !== "string") {
        throw invalidParameter(
          `The target region '${t.name}' of a 'ConfidentialVM' image must specify ` +
            "'encryption.osDiskImage.securityProfile.confidentialVMEncryptionType'.",
          `galleryImageVersion.properties.publishingProfile.targetRegions[${i}].encryption`,
        );
      }
    }
  }
  if (source.kind === "vhd" || source.kind === "none" || source.id === undefined) return undefined;
  const resource = store.get(source.id);
  const inRegion =
    resource !== undefined && (source.kind === "imageVersion" || sameRegion(resource.location, location));
  if (!resource || resource.deletingUntilMs !== undefined || !inRegion) {
    throw new ArmError(
      404,
      "NotFound",
      `Source ${source.id} is not found. Please check source exists, and is in the same region as gallery image ` +
        "version being created",
      sourceTarget,
    );
  }
  return resource;
}

/**
 * The asynchronous rules: security data [V19], OS type [V7], Hyper-V generation [V6], OS state [V8] of the source
 * against the definition.
 */
function sourceConflict(definition: StoredResource, source: VersionSource, facts: SourceFacts): string | undefined {
  const d = definition.properties;
  const id = source.id ?? "";
  const securityType = securityTypeOf(d);
  if (
    trustedLaunchCapableTypes.includes(securityType) &&
    (facts.securityType === "TrustedLaunch" || facts.securityType === "ConfidentialVM")
  ) {
    return (
      `The source '${id}' contains TrustedLaunch or ConfidentialVM security data that cannot be used in image with ` +
      `'${securityType}' security type. Please use either TrustedLaunch or ConfidentialVM security type.`
    );
  }
  if (facts.osType && facts.osType !== String(d["osType"])) {
    return `The resource with id '${id}' has a different OS type ['${facts.osType}'] than the parent gallery image OS type generation ['${String(d["osType"])}']`;
  }
  const generation = String(d["hyperVGeneration"] ?? "V1");
  if (facts.hyperVGeneration && facts.hyperVGeneration !== generation) {
    return `The resource with id '${id}' has a different Hypervisor generation ['${facts.hyperVGeneration}'] than the parent gallery image Hypervisor generation ['${generation}'].`;
  }
  if (facts.osState && facts.osState !== String(d["osState"])) {
    return `Cannot create Gallery Image Version from: ${id} since the OS State in the parent gallery image (${String(d["osState"])}) is not ${facts.osState}`;
  }
  return undefined;
}

// ---------------------------------------------------------------- image versions: write

export interface VersionInput {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  imageDefinition: string;
  version: string;
  body: Record<string, unknown>;
  apiVersion?: string;
  /** Seeding and Image Builder (whose VHD source the run has already checked) skip the source rules. */
  skipSourceCheck?: boolean;
}

/** Creates or updates a version (PUT semantics), shared by the ARM handlers, Image Builder and seeding. */
export function writeVersion(
  store: Store,
  input: VersionInput,
  nowMs: number,
): { version: StoredResource; created: boolean } {
  const { subscriptionId: s, resourceGroup: rg, gallery, imageDefinition, version: name, body } = input;
  const definition = store.get(imageDefinitionId(s, rg, gallery, imageDefinition));
  if (!definition || definition.deletingUntilMs !== undefined) throw parentResourceNotFound([gallery, imageDefinition]);
  validateVersionName(name);
  const id = imageVersionId(s, rg, gallery, imageDefinition, name);
  const existing = store.get(id);
  if (existing?.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery Image Version", existing.name);
  const location = existing?.location ?? requireLocation(body);
  const props = userProperties(body, ["provisioningState", "replicationStatus"]);
  if (props["storageProfile"] === undefined && !existing) {
    throw requiredParameterMissing("galleryImageVersion.properties.storageProfile");
  }
  const storageProfile = asObject(props["storageProfile"] ?? existing?.properties["storageProfile"]);
  const source = sourceOf(storageProfile);
  if (existing) {
    const before = sourceOf(asObject(existing.properties["storageProfile"]));
    if (before.id && source.id && before.id.toLowerCase() !== source.id.toLowerCase()) {
      throw propertyChangeNotAllowed(sourceTarget);
    }
  }
  const publishingProfile = normalizePublishingProfile(
    asObject(props["publishingProfile"]),
    location,
    existing?.createdAtMs ?? nowMs,
  );
  const targetRegions = publishingProfile["targetRegions"] as TargetRegion[];
  const safety = asObject(props["safetyProfile"] ?? existing?.properties["safetyProfile"]);
  const allowDeletionOfReplicatedLocations = safety["allowDeletionOfReplicatedLocations"] === true;
  const heldTargets = existing
    ? ((asObject(existing.properties["publishingProfile"])["targetRegions"] as TargetRegion[] | undefined) ?? [])
    : [];
  if (existing) {
    const before = heldTargets;
    // [V21] A region the version already holds keeps its storage account type.
    targetRegions.forEach((target, i) => {
      const held = before.find((b) => sameRegion(b.name, target.name));
      if (held && held.storageAccountType !== target.storageAccountType) {
        throw invalidParameter(
          `Global storage account type does not match the storage account type in the existing TargetRegion: ` +
            `'${held.name}'. Please specify '${held.storageAccountType}' as the storage account type for this region.`,
          `galleryImageVersion.properties.publishingProfile.targetRegions[${i}].storageAccountType`,
        );
      }
    });
    const removed = before.filter((b) => !targetRegions.some((t) => sameRegion(t.name, b.name)));
    if (removed.length > 0 && !allowDeletionOfReplicatedLocations) {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `Removing region(s) ${removed.map((r) => `'${r.name}'`).join(", ")} from gallery image version '${name}' is ` +
          "not allowed because 'safetyProfile.allowDeletionOfReplicatedLocations' is false.",
        "galleryImageVersion.properties.safetyProfile.allowDeletionOfReplicatedLocations",
      );
    }
  }
  let facts: SourceFacts = { dataDisks: [] };
  let conflict: string | undefined;
  if (!existing && !input.skipSourceCheck) {
    const resource = checkSource(store, definition, source, location, targetRegions);
    if (resource) {
      facts = factsOf(store, source, resource);
      conflict = sourceConflict(definition, source, facts);
    }
  }
  const existingStorage = asObject(existing?.properties["storageProfile"]);
  const osDiskImage = asObject(storageProfile["osDiskImage"]);
  // Data disks named in the request take their size from their own source; otherwise they come from the source.
  const dataDiskImages = Array.isArray(storageProfile["dataDiskImages"])
    ? (storageProfile["dataDiskImages"] as unknown[]).map(asObject).map((d) => {
        const diskSource = store.get(String(asObject(d["source"])["id"] ?? ""));
        const size = diskSource?.properties["diskSizeGB"];
        return { ...d, sizeInGB: typeof size === "number" ? size : 30, hostCaching: d["hostCaching"] ?? "ReadOnly" };
      })
    : facts.dataDisks;
  const resource: StoredResource = {
    id: existing?.id ?? id,
    type: imageVersionType,
    name: existing?.name ?? name,
    location,
    subscriptionId: s,
    resourceGroup: definition.resourceGroup,
    tags: tagsOf(body["tags"]),
    properties: {
      ...props,
      publishingProfile,
      storageProfile: existing
        ? {
            ...existingStorage,
            ...storageProfile,
            osDiskImage: existingStorage["osDiskImage"],
            // An update may restate the data disks; they keep what the service filled in (their sizes).
            ...(Array.isArray(existingStorage["dataDiskImages"])
              ? {
                  dataDiskImages: (existingStorage["dataDiskImages"] as unknown[]).map(asObject).map((d) => ({
                    ...d,
                    ...(Array.isArray(storageProfile["dataDiskImages"])
                      ? asObject(
                          (storageProfile["dataDiskImages"] as unknown[])
                            .map(asObject)
                            .find((x) => x["lun"] === d["lun"]),
                        )
                      : {}),
                    sizeInGB: d["sizeInGB"],
                  })),
                }
              : {}),
          }
        : {
            ...storageProfile,
            osDiskImage: {
              sizeInGB: facts.sizeInGB ?? 30,
              hostCaching: "ReadWrite",
              ...osDiskImage,
              source: asObject(osDiskImage["source"]),
            },
            ...((dataDiskImages as unknown[]).length > 0 ? { dataDiskImages } : {}),
          },
      safetyProfile: {
        reportedForPolicyViolation: false,
        allowDeletionOfReplicatedLocations,
        ...(typeof safety["blockDeletionBeforeEndOfLife"] === "boolean"
          ? { blockDeletionBeforeEndOfLife: safety["blockDeletionBeforeEndOfLife"] }
          : {}),
      },
    },
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
    apiVersion: existing?.apiVersion ?? input.apiVersion,
    osDiskImageGiven: existing?.osDiskImageGiven ?? storageProfile["osDiskImage"] !== undefined,
    dataDiskImagesGiven: existing?.dataDiskImagesGiven ?? Array.isArray(storageProfile["dataDiskImages"]),
    // An update is a long-running operation of its own, even when no region has to replicate again.
    ...(existing
      ? { provisionedAtMs: nowMs + store.config.operationDurationInMs, provisioningPhase: "update" as const }
      : {}),
  };
  if (conflict !== undefined) {
    resource.provisioningFailure = { code: "Conflict", message: conflict };
    resource.provisionedAtMs = nowMs;
  } else {
    resource.replication = reconcileReplication(
      store,
      { gallery, imageDefinition, version: name },
      existing?.replication,
      targetRegions,
      nowMs,
      heldTargets,
    );
  }
  store.put(resource);
  return { version: resource, created: !existing };
}

export interface VersionViewOptions {
  expandReplication?: boolean;
  /** The answer to a create PUT omits what the service fills in later (`osDiskImage`). */
  creating?: boolean;
}

/** provisioningState of a version: Deleting, Failed (refused source), else from its replication. */
export function versionProvisioningState(v: StoredResource, nowMs: number): string {
  if (v.deletingUntilMs !== undefined) return "Deleting";
  if (v.provisioningFailure) return "Failed";
  const state = versionStatus(v.replication ?? { phase: "create", regions: [] }, nowMs).provisioningState;
  if (v.provisioningPhase === "update" && v.provisionedAtMs !== undefined && nowMs < v.provisionedAtMs)
    return "Updating";
  return state;
}

export function imageVersionView(store: Store, v: StoredResource, options: VersionViewOptions = {}): unknown {
  const nowMs = store.now();
  const status = versionStatus(v.replication ?? { phase: "create", regions: [] }, nowMs);
  const storageProfile = { ...asObject(v.properties["storageProfile"]) };
  if (options.creating) {
    // The answer to a create shows what the request named, without the sizes the service fills in later.
    const { sizeInGB: _size, ...osDiskImage } = asObject(storageProfile["osDiskImage"]);
    if (v.osDiskImageGiven) storageProfile["osDiskImage"] = osDiskImage;
    else delete storageProfile["osDiskImage"];
    if (!v.dataDiskImagesGiven) delete storageProfile["dataDiskImages"];
    if (Array.isArray(storageProfile["dataDiskImages"])) {
      storageProfile["dataDiskImages"] = (storageProfile["dataDiskImages"] as unknown[]).map(asObject).map((d) => {
        const { sizeInGB: _dataSize, ...rest } = d;
        return rest;
      });
    }
  }
  const properties: Record<string, unknown> = {
    ...v.properties,
    storageProfile,
    provisioningState: versionProvisioningState(v, nowMs),
  };
  if (options.expandReplication) {
    properties["replicationStatus"] = { aggregatedState: status.aggregatedState, summary: status.summary };
  }
  return {
    name: v.name,
    id: v.id,
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
    body: imageVersionView(ctx.store, v, { creating: created }),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

export function putImageVersion(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const { version, created } = writeVersion(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      gallery: p["gallery"]!,
      imageDefinition: p["image"]!,
      version: p["version"]!,
      body,
      apiVersion: ctx.apiVersion,
    },
    ctx.nowMs,
  );
  return versionWriteReply(ctx, version, created);
}

export function patchImageVersion(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const v = getVersion(ctx, p);
  if (v.deletingUntilMs !== undefined) throw markedForDeletion("Update Gallery Image Version", v.name);
  const patch = asObject(body["properties"]);
  const patchProfile = asObject(patch["publishingProfile"]);
  const storedProfile = asObject(v.properties["publishingProfile"]);
  const mergedProfile: Record<string, unknown> = { ...storedProfile, ...patchProfile };
  delete mergedProfile["publishedDate"];
  const merged: Record<string, unknown> = {
    location: v.location,
    tags: body["tags"] !== undefined ? body["tags"] : v.tags,
    properties: {
      ...v.properties,
      ...patch,
      publishingProfile: mergedProfile,
      storageProfile: { ...asObject(v.properties["storageProfile"]), ...asObject(patch["storageProfile"]) },
      safetyProfile: { ...asObject(v.properties["safetyProfile"]), ...asObject(patch["safetyProfile"]) },
    },
  };
  const { version } = writeVersion(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      gallery: p["gallery"]!,
      imageDefinition: p["image"]!,
      version: v.name,
      body: merged,
      apiVersion: ctx.apiVersion,
    },
    ctx.nowMs,
  );
  return versionWriteReply(ctx, version, false);
}

export function getImageVersionReply(ctx: Ctx, p: Params): Reply {
  const expand = (ctx.url.searchParams.get("$expand") ?? "").toLowerCase() === "replicationstatus";
  return ok(imageVersionView(ctx.store, getVersion(ctx, p), { expandReplication: expand }));
}

export function deleteImageVersion(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const v = ctx.store.get(imageVersionId(ctx.subscriptionId, p["rg"]!, p["gallery"]!, p["image"]!, p["version"]!));
  if (!v) return { status: 204 };
  const safety = asObject(v.properties["safetyProfile"]);
  const endOfLife = asObject(v.properties["publishingProfile"])["endOfLifeDate"];
  if (
    v.deletingUntilMs === undefined &&
    safety["blockDeletionBeforeEndOfLife"] === true &&
    typeof endOfLife === "string" &&
    ctx.nowMs < Date.parse(endOfLife)
  ) {
    throw new ArmError(
      409,
      "DeleteGalleryImageVersionBlockedBeforeEndOfLife",
      "Deletion of Gallery image version is not allowed because the image is enabled for " +
        "blockDeletionBeforeEndOfLife and its endOfLifeDate has not reached yet",
    );
  }
  return startDeletion(ctx, v);
}

export function listImageVersions(ctx: Ctx, p: Params): Reply {
  const d = getDefinition(ctx, p);
  return page(
    ctx,
    ctx.store.childrenOf(d.id, imageVersionType).map((v) => imageVersionView(ctx.store, v)),
  );
}

/**
 * What `latest` resolves to: the highest Major.Minor.Patch that is not excluded from latest (in the given region by
 * its own flag when it sets one, else by the version's) and has finished replicating (there, when a region is given),
 * or is only changing its replica count there [V20].
 */
export function resolveLatest(store: Store, definitionId: string, region?: string): StoredResource | undefined {
  const nowMs = store.now();
  const candidates = store.childrenOf(definitionId, imageVersionType).filter((v) => {
    if (v.deletingUntilMs !== undefined || v.provisioningFailure) return false;
    const profile = asObject(v.properties["publishingProfile"]);
    const regions = v.replication?.regions ?? [];
    if (region === undefined) {
      return profile["excludeFromLatest"] !== true && regions.some((r) => regionServes(r, nowMs));
    }
    const target = (profile["targetRegions"] as TargetRegion[] | undefined)?.find((t) => sameRegion(t.name, region));
    if (!target) return false;
    const excluded =
      typeof target.excludeFromLatest === "boolean" ? target.excludeFromLatest : profile["excludeFromLatest"] === true;
    if (excluded) return false;
    return regions.some((r) => sameRegion(r.region, region) && regionServes(r, nowMs));
  });
  candidates.sort((a, b) => compareVersionNames(b.name, a.name));
  return candidates[0];
}
