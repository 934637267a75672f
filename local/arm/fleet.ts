import { randomBytes, randomUUID } from "node:crypto";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  listOfType,
  lroHeaders,
  ok,
  page,
  plainProvisioningState,
  provisioningTimes,
  requireResourceGroupForRead,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { ArmError, invalidParameter, propertyChangeNotAllowed, resourceNotFound } from "./errors.js";
import { imageDefinitionType, imageVersionType, resolveLatest, startDeletion } from "./gallery.js";
import { normalizeRegion, sameRegion } from "./names.js";
import { versionStatus } from "./simulation.js";
import type { Store, StoredResource } from "./store.js";

/**
 * The fleet: virtual machines, scale sets (Uniform and Flexible orchestration) and scale-set instances, as plain ARM
 * resources (PUT/GET/list/DELETE, timed provisioning). What the emulator models of them is their image reference:
 * a gallery image version, or a definition whose `latest` is resolved in the VM's region when the VM (or instance)
 * is created and reported as `exactVersion` (rules F1-F6 in README.md). No VM runs: no power state, network, disks.
 */

export const virtualMachineType = "Microsoft.Compute/virtualMachines";
export const scaleSetType = "Microsoft.Compute/virtualMachineScaleSets";
export const scaleSetInstanceType = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines";

const galleryReference =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)(?:\/versions\/([^/]+))?$/i;

export function virtualMachineId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/${virtualMachineType}/${name}`;
}

export function scaleSetId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/${scaleSetType}/${name}`;
}

function galleryImageNotFound(id: string, location: string): ArmError {
  return new ArmError(
    404,
    "GalleryImageNotFound",
    `The gallery image ${id} is not available in ${normalizeRegion(location)} region. Please contact image owner to ` +
      "replicate to this region, or change your requested region.",
    "imageReference",
  );
}

/**
 * The image reference as Compute stores it when a VM or an instance is created: a gallery version must exist and
 * have replicated to the region [F2]; a definition resolves to its `latest` there, reported as `exactVersion` [F3].
 * Other references (platform images, managed images) are kept as given: the emulator does not check them.
 */
export function resolveImageReference(
  store: Store,
  reference: Record<string, unknown>,
  location: string,
  path: string,
): Record<string, unknown> {
  const id = reference["id"];
  if (typeof id === "string" && reference["version"] !== undefined) {
    throw invalidParameter(
      "The property 'imageReference.id' cannot be used together with property 'imageReference.version'.",
      `${path}.version`,
    );
  }
  const { exactVersion: _ignored, ...given } = reference;
  if (typeof id !== "string") return given;
  const match = galleryReference.exec(id);
  if (!match) return given;
  if (match[5] !== undefined) {
    const version = store.get(id);
    const replicated =
      version !== undefined &&
      version.type === imageVersionType &&
      version.deletingUntilMs === undefined &&
      versionStatus(version.replication ?? { phase: "create", regions: [] }, store.now()).summary.some(
        (s) => sameRegion(s.region, location) && s.state === "Completed",
      );
    if (!replicated) throw galleryImageNotFound(id, location);
    return given;
  }
  const definition = store.get(id);
  const latest = definition?.type === imageDefinitionType ? resolveLatest(store, definition.id, location) : undefined;
  if (!latest) throw galleryImageNotFound(id, location);
  return { ...given, exactVersion: latest.name };
}

function requireLocation(body: Record<string, unknown>): string {
  const location = body["location"];
  if (typeof location !== "string" || location === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  return location;
}

const referenceOf = (storageProfile: unknown) => asObject(asObject(storageProfile)["imageReference"]);
const sameReference = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a["id"] ?? "").toLowerCase() === String(b["id"] ?? "").toLowerCase() &&
  ["publisher", "offer", "sku", "version"].every((k) => (a[k] ?? null) === (b[k] ?? null));

function timedWriteReply(ctx: Ctx, resource: StoredResource, created: boolean, view: unknown): Reply {
  const op = startOperation(ctx, "compute", resource.location, {
    kind: "timer",
    completesAtMs: resource.provisionedAtMs,
  });
  return { status: created ? 201 : 200, body: view, headers: lroHeaders(ctx, op, { asyncOperation: true }) };
}

// ---------------------------------------------------------------- virtual machines

/** A VM as Compute shows it; its instance view only when asked for (`$expand=instanceView`). */
export function virtualMachineView(
  store: Store,
  vm: StoredResource,
  options: { expandInstanceView?: boolean } = {},
): Record<string, unknown> {
  const { instanceView, ...properties } = vm.properties;
  return {
    name: vm.name,
    id: vm.id,
    type: virtualMachineType,
    location: vm.location,
    ...(vm.tags ? { tags: vm.tags } : {}),
    properties: {
      ...properties,
      provisioningState: plainProvisioningState(vm, store.now()),
      ...(options.expandInstanceView && instanceView !== undefined ? { instanceView } : {}),
    },
  };
}

/** Creates or updates a VM in the store (ARM PUTs, a Flexible scale set's own instances). */
function writeVirtualMachine(
  ctx: Ctx,
  input: {
    resourceGroup: string;
    name: string;
    location: string;
    tags?: Record<string, string>;
    properties: Record<string, unknown>;
  },
): { vm: StoredResource; created: boolean } {
  const id = virtualMachineId(ctx.subscriptionId, input.resourceGroup, input.name);
  const existing = ctx.store.get(id);
  const properties = { ...input.properties };
  delete properties["provisioningState"];
  const requested = referenceOf(properties["storageProfile"]);
  let reference: Record<string, unknown>;
  if (existing) {
    const current = referenceOf(existing.properties["storageProfile"]);
    if (Object.keys(requested).length > 0 && !sameReference(requested, current)) {
      throw propertyChangeNotAllowed("imageReference");
    }
    reference = current;
  } else {
    reference =
      Object.keys(requested).length > 0
        ? resolveImageReference(ctx.store, requested, input.location, "properties.storageProfile.imageReference")
        : {};
  }
  const storageProfile = { ...asObject(properties["storageProfile"]) };
  if (Object.keys(reference).length > 0) storageProfile["imageReference"] = reference;
  const vm: StoredResource = {
    id: existing?.id ?? id,
    type: virtualMachineType,
    name: existing?.name ?? input.name,
    location: existing?.location ?? input.location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: existing?.resourceGroup ?? input.resourceGroup,
    tags: input.tags ?? existing?.tags,
    properties: {
      ...properties,
      storageProfile,
      vmId: existing?.properties["vmId"] ?? randomUUID(),
      timeCreated: existing?.properties["timeCreated"] ?? new Date(ctx.nowMs).toISOString(),
    },
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(vm);
  return { vm, created: !existing };
}

export function putVirtualMachine(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const location = requireLocation(body);
  ensureResourceGroup(ctx, p["rg"]!, location);
  const props = asObject(body["properties"]);
  const { vm, created } = writeVirtualMachine(ctx, {
    resourceGroup: p["rg"]!,
    name: p["vm"]!,
    location,
    tags: tagsOf(body["tags"]),
    properties: props,
  });
  return timedWriteReply(ctx, vm, created, virtualMachineView(ctx.store, vm));
}

function getVm(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const vm = ctx.store.get(virtualMachineId(ctx.subscriptionId, p["rg"]!, p["vm"]!));
  if (!vm) throw resourceNotFound(virtualMachineType, [p["vm"]!], p["rg"]!);
  return vm;
}

export function getVirtualMachine(ctx: Ctx, p: Params): Reply {
  const expand = (ctx.url.searchParams.get("$expand") ?? "").toLowerCase() === "instanceview";
  return ok(virtualMachineView(ctx.store, getVm(ctx, p), { expandInstanceView: expand }));
}

export function deleteVirtualMachine(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const vm = ctx.store.get(virtualMachineId(ctx.subscriptionId, p["rg"]!, p["vm"]!));
  if (!vm) return { status: 204 };
  return startDeletion(ctx, vm);
}

export function listVirtualMachinesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, virtualMachineType, virtualMachineView, p["rg"]!);
}

export function listVirtualMachines(ctx: Ctx): Reply {
  return listOfType(ctx, virtualMachineType, virtualMachineView);
}

// ---------------------------------------------------------------- scale sets

export function scaleSetView(store: Store, set: StoredResource): Record<string, unknown> {
  return {
    name: set.name,
    id: set.id,
    type: scaleSetType,
    location: set.location,
    ...(set.tags ? { tags: set.tags } : {}),
    ...(set.properties["sku"] ? { sku: set.properties["sku"] } : {}),
    properties: {
      ...Object.fromEntries(Object.entries(set.properties).filter(([k]) => k !== "sku" && k !== "nextInstanceId")),
      provisioningState: plainProvisioningState(set, store.now()),
    },
  };
}

function instanceName(set: StoredResource, instanceId: string): string {
  return `${set.name}_${instanceId}`;
}

function uniformInstances(store: Store, set: StoredResource): StoredResource[] {
  return store
    .childrenOf(set.id, scaleSetInstanceType)
    .sort((a, b) => Number(a.properties["instanceId"]) - Number(b.properties["instanceId"]));
}

function flexibleInstances(store: Store, set: StoredResource): StoredResource[] {
  return store
    .inGroup(set.subscriptionId, set.resourceGroup)
    .filter(
      (r) =>
        r.type === virtualMachineType &&
        String(asObject(r.properties["virtualMachineScaleSet"])["id"] ?? "").toLowerCase() === set.id.toLowerCase(),
    )
    .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1));
}

/**
 * Brings the set's instances to its capacity [F5]: new instances take the model's image reference, resolved now
 * (a definition's `latest` at scale-out, which is why one set can run several versions); scale-in removes the highest
 * instance ids (Uniform) or the newest VMs (Flexible). Existing instances keep the image they were created from.
 */
function reconcileInstances(ctx: Ctx, set: StoredResource): void {
  const capacity = Number(asObject(set.properties["sku"])["capacity"] ?? 0);
  const model = asObject(set.properties["virtualMachineProfile"]);
  const reference = referenceOf(model["storageProfile"]);
  const flexible = set.properties["orchestrationMode"] === "Flexible";
  const current = flexible ? flexibleInstances(ctx.store, set) : uniformInstances(ctx.store, set);
  const live = current.filter((r) => r.deletingUntilMs === undefined);
  if (live.length > capacity) {
    for (const doomed of live.slice(capacity).reverse()) ctx.store.delete(doomed.id);
    return;
  }
  if (flexible && Object.keys(model).length === 0) return;
  for (let n = live.length; n < capacity; n++) {
    const imageReference =
      Object.keys(reference).length > 0
        ? resolveImageReference(
            ctx.store,
            reference,
            set.location,
            "properties.virtualMachineProfile.storageProfile.imageReference",
          )
        : {};
    if (flexible) {
      writeVirtualMachine(ctx, {
        resourceGroup: set.resourceGroup,
        name: `${set.name}_${randomBytes(4).toString("hex")}`,
        location: set.location,
        properties: {
          storageProfile: { ...asObject(model["storageProfile"]), imageReference },
          virtualMachineScaleSet: { id: set.id },
        },
      });
      continue;
    }
    const instanceId = String(Number(set.properties["nextInstanceId"] ?? 0));
    set.properties["nextInstanceId"] = Number(instanceId) + 1;
    ctx.store.put({
      id: `${set.id}/virtualMachines/${instanceId}`,
      type: scaleSetInstanceType,
      name: instanceName(set, instanceId),
      location: set.location,
      subscriptionId: set.subscriptionId,
      resourceGroup: set.resourceGroup,
      properties: {
        instanceId,
        latestModelApplied: true,
        vmId: randomUUID(),
        storageProfile: { ...asObject(model["storageProfile"]), imageReference },
        timeCreated: new Date(ctx.nowMs).toISOString(),
      },
      ...provisioningTimes(ctx, undefined),
    });
  }
}

export function putScaleSet(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const location = requireLocation(body);
  ensureResourceGroup(ctx, p["rg"]!, location);
  const id = scaleSetId(ctx.subscriptionId, p["rg"]!, p["vmss"]!);
  const existing = ctx.store.get(id);
  const props = { ...asObject(body["properties"]) };
  delete props["provisioningState"];
  const orchestrationMode = props["orchestrationMode"] ?? existing?.properties["orchestrationMode"] ?? "Uniform";
  if (existing && orchestrationMode !== existing.properties["orchestrationMode"]) {
    throw propertyChangeNotAllowed("orchestrationMode");
  }
  const model = asObject(props["virtualMachineProfile"]);
  const reference = referenceOf(model["storageProfile"]);
  if (Object.keys(reference).length > 0) {
    // The model is checked as a VM of the set would be: a reference no instance could be created from is refused.
    resolveImageReference(
      ctx.store,
      reference,
      location,
      "properties.virtualMachineProfile.storageProfile.imageReference",
    );
  }
  const set: StoredResource = {
    id: existing?.id ?? id,
    type: scaleSetType,
    name: existing?.name ?? p["vmss"]!,
    location: existing?.location ?? location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: existing?.resourceGroup ?? p["rg"]!,
    tags: tagsOf(body["tags"]) ?? existing?.tags,
    properties: {
      ...props,
      orchestrationMode,
      uniqueId: existing?.properties["uniqueId"] ?? randomUUID(),
      timeCreated: existing?.properties["timeCreated"] ?? new Date(ctx.nowMs).toISOString(),
      nextInstanceId: existing?.properties["nextInstanceId"] ?? 0,
      sku: { ...asObject(existing?.properties["sku"]), ...asObject(body["sku"]) },
    },
    ...provisioningTimes(ctx, existing),
  };
  ctx.store.put(set);
  reconcileInstances(ctx, set);
  ctx.store.touch(set);
  return timedWriteReply(ctx, set, !existing, scaleSetView(ctx.store, set));
}

function getSet(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const set = ctx.store.get(scaleSetId(ctx.subscriptionId, p["rg"]!, p["vmss"]!));
  if (!set) throw resourceNotFound(scaleSetType, [p["vmss"]!], p["rg"]!);
  return set;
}

export function getScaleSet(ctx: Ctx, p: Params): Reply {
  return ok(scaleSetView(ctx.store, getSet(ctx, p)));
}

/** Deleting a scale set deletes its instances (Uniform ones with it; a Flexible set's VMs too). */
export function deleteScaleSet(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const set = ctx.store.get(scaleSetId(ctx.subscriptionId, p["rg"]!, p["vmss"]!));
  if (!set) return { status: 204 };
  const members =
    set.properties["orchestrationMode"] === "Flexible"
      ? flexibleInstances(ctx.store, set)
      : uniformInstances(ctx.store, set);
  for (const member of members) ctx.store.delete(member.id);
  return startDeletion(ctx, set);
}

export function listScaleSetsByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, scaleSetType, scaleSetView, p["rg"]!);
}

export function listScaleSets(ctx: Ctx): Reply {
  return listOfType(ctx, scaleSetType, scaleSetView);
}

// ---------------------------------------------------------------- scale-set instances (Uniform)

export function instanceView(store: Store, instance: StoredResource): Record<string, unknown> {
  const { instanceId, ...properties } = instance.properties;
  return {
    name: instance.name,
    id: instance.id,
    type: scaleSetInstanceType,
    location: instance.location,
    instanceId,
    properties: { ...properties, provisioningState: plainProvisioningState(instance, store.now()) },
  };
}

export function listScaleSetInstances(ctx: Ctx, p: Params): Reply {
  const set = getSet(ctx, p);
  // A Flexible set's instances are VMs of their own: Compute lists them among the group's VMs, not here.
  const members = set.properties["orchestrationMode"] === "Flexible" ? [] : uniformInstances(ctx.store, set);
  return page(
    ctx,
    members.map((i) => instanceView(ctx.store, i)),
  );
}

export function getScaleSetInstance(ctx: Ctx, p: Params): Reply {
  const set = getSet(ctx, p);
  const instance = ctx.store.get(`${set.id}/virtualMachines/${p["instance"]!}`);
  if (!instance) throw resourceNotFound(scaleSetType, [set.name, "virtualMachines", p["instance"]!], p["rg"]!);
  return ok(instanceView(ctx.store, instance));
}

export const fleetTypes = [virtualMachineType, scaleSetType, scaleSetInstanceType] as const;

/** The view of a fleet resource, as ARM (and so Resource Graph) reports it. */
export function fleetView(store: Store, resource: StoredResource): Record<string, unknown> | undefined {
  switch (resource.type) {
    case virtualMachineType:
      return virtualMachineView(store, resource, { expandInstanceView: true });
    case scaleSetType:
      return scaleSetView(store, resource);
    case scaleSetInstanceType:
      return instanceView(store, resource);
    default:
      return undefined;
  }
}
