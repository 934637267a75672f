import { createHash, randomUUID } from "node:crypto";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  isoTime,
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
import { ArmError, resourceGroupNotFound, resourceNotFound } from "./errors.js";
import { normalizeRegion } from "./names.js";
import type { Store, StoredResource, StoredResourceGroup } from "./store.js";

/**
 * ARM itself (resource groups), Microsoft.ManagedIdentity user-assigned identities and Microsoft.Authorization role
 * assignments: the resources Image Builder's rules depend on. Entra ID is not modelled: any principal id is accepted.
 */

export const identityType = "Microsoft.ManagedIdentity/userAssignedIdentities";
export const roleAssignmentType = "Microsoft.Authorization/roleAssignments";

/** Built-in role definition ids (learn.microsoft.com, Azure built-in roles). */
export const builtInRoles = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb636",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
} as const;

/** A stable GUID derived from a string (tenant ids and the like). */
export function guidOf(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export const emulatorTenantId = guidOf("image-pipeline arm emulator tenant");

// ---------------------------------------------------------------- resource groups

export function resourceGroupView(ctx: Ctx, group: StoredResourceGroup): unknown {
  return {
    id: `/subscriptions/${ctx.subscriptionId}/resourceGroups/${group.name}`,
    name: group.name,
    type: "Microsoft.Resources/resourceGroups",
    location: group.location,
    ...(group.tags ? { tags: group.tags } : {}),
    ...(group.managedBy ? { managedBy: group.managedBy } : {}),
    properties: { provisioningState: group.deletingUntilMs !== undefined ? "Deleting" : "Succeeded" },
  };
}

function getGroupOr404(ctx: Ctx, name: string): StoredResourceGroup {
  const group = ctx.store.getGroup(ctx.subscriptionId, name);
  if (!group) throw resourceGroupNotFound(name);
  return group;
}

export function putResourceGroup(ctx: Ctx, p: Params): Reply {
  const body = asObject(ctx.body);
  const existing = ctx.store.getGroup(ctx.subscriptionId, p["rg"]!);
  if (existing?.deletingUntilMs !== undefined) {
    throw new ArmError(
      409,
      "ResourceGroupBeingDeleted",
      `The resource group '${existing.name}' is in deprovisioning state and cannot perform this operation.`,
    );
  }
  if (typeof body["location"] !== "string" || body["location"] === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  if (existing && normalizeRegion(existing.location) !== normalizeRegion(String(body["location"]))) {
    throw new ArmError(
      409,
      "InvalidResourceGroupLocation",
      `Invalid resource group location '${String(body["location"])}'. The Resource group already exists in location ` +
        `'${existing.location}'.`,
    );
  }
  const group: StoredResourceGroup = {
    subscriptionId: ctx.subscriptionId,
    name: existing?.name ?? p["rg"]!,
    location: existing?.location ?? String(body["location"]),
    tags: tagsOf(body["tags"]) ?? existing?.tags,
    createdAtMs: existing?.createdAtMs ?? ctx.nowMs,
    ...(existing?.managedBy ? { managedBy: existing.managedBy } : {}),
  };
  ctx.store.putGroup(group);
  return ok(resourceGroupView(ctx, group), existing ? 200 : 201);
}

export function getResourceGroup(ctx: Ctx, p: Params): Reply {
  return ok(resourceGroupView(ctx, getGroupOr404(ctx, p["rg"]!)));
}

export function headResourceGroup(ctx: Ctx, p: Params): Reply {
  return { status: ctx.store.getGroup(ctx.subscriptionId, p["rg"]!) ? 204 : 404 };
}

/**
 * DELETE of a resource group: 202 with a `Location` under `/operationresults/` that answers 202 until the group is
 * gone; what the group holds is removed at once (so nothing in it answers any more), the group itself reports
 * Deleting for `deleteDurationInMs`.
 */
export function deleteResourceGroup(ctx: Ctx, p: Params): Reply {
  const group = getGroupOr404(ctx, p["rg"]!);
  const untilMs = group.deletingUntilMs ?? ctx.nowMs + ctx.store.config.deleteDurationInMs;
  removeGroupContents(ctx.store, group);
  ctx.store.putGroup({ ...group, deletingUntilMs: untilMs });
  const op = startOperation(ctx, "resources", group.location, { kind: "timer", completesAtMs: untilMs });
  return { status: 202, headers: lroHeaders(ctx, op, { location: true }) };
}

/** Hooks the resource types register to clean up after themselves when their group is deleted. */
const groupDeletionHooks: ((store: Store, resource: StoredResource) => void)[] = [];

export function onResourceRemovedWithGroup(hook: (store: Store, resource: StoredResource) => void): void {
  groupDeletionHooks.push(hook);
}

export function removeGroupContents(store: Store, group: StoredResourceGroup): void {
  for (const resource of store.inGroup(group.subscriptionId, group.name)) {
    for (const hook of groupDeletionHooks) hook(store, resource);
  }
  for (const resource of store.inGroup(group.subscriptionId, group.name)) store.delete(resource.id);
  for (const blob of [...store.blobs.values()]) {
    if (
      blob.subscriptionId.toLowerCase() === group.subscriptionId.toLowerCase() &&
      blob.resourceGroup.toLowerCase() === group.name.toLowerCase()
    ) {
      store.deleteBlob(blob.uri);
    }
  }
}

// ---------------------------------------------------------------- user-assigned identities

export function identityId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourcegroups/${rg}/providers/${identityType}/${name}`;
}

function identityView(identity: StoredResource): unknown {
  return {
    location: identity.location,
    tags: identity.tags ?? {},
    id: identity.id,
    name: identity.name,
    type: identityType,
    properties: {
      tenantId: identity.properties["tenantId"],
      principalId: identity.properties["principalId"],
      clientId: identity.properties["clientId"],
    },
  };
}

/** Creates a user-assigned identity directly (seeding, local provisioning). */
export function writeIdentity(
  store: Store,
  input: {
    subscriptionId: string;
    resourceGroup: string;
    name: string;
    location: string;
    tags?: Record<string, string>;
  },
  nowMs: number,
): StoredResource {
  const id = identityId(input.subscriptionId, input.resourceGroup, input.name);
  const existing = store.get(id);
  const identity: StoredResource = {
    id: existing?.id ?? id,
    type: identityType,
    name: existing?.name ?? input.name,
    location: existing?.location ?? input.location,
    subscriptionId: input.subscriptionId,
    resourceGroup: existing?.resourceGroup ?? input.resourceGroup,
    tags: input.tags ?? existing?.tags,
    properties: existing?.properties ?? {
      tenantId: emulatorTenantId,
      principalId: randomUUID(),
      clientId: randomUUID(),
    },
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
  };
  store.put(identity);
  return identity;
}

/** PUT of an identity: synchronous, 201 (new) or 200, with a `Location` header naming the identity. */
export function putIdentity(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  if (typeof body["location"] !== "string" || body["location"] === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  ensureResourceGroup(ctx, p["rg"]!, body["location"]);
  const existing = ctx.store.get(identityId(ctx.subscriptionId, p["rg"]!, p["identity"]!));
  const identity = writeIdentity(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      resourceGroup: p["rg"]!,
      name: p["identity"]!,
      location: body["location"],
      tags: tagsOf(body["tags"]) ?? {},
    },
    ctx.nowMs,
  );
  return { status: existing ? 200 : 201, body: identityView(identity), headers: { Location: identity.id } };
}

function getIdentity(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const identity = ctx.store.get(identityId(ctx.subscriptionId, p["rg"]!, p["identity"]!));
  if (!identity) throw resourceNotFound(identityType, [p["identity"]!], p["rg"]!);
  return identity;
}

export function getIdentityReply(ctx: Ctx, p: Params): Reply {
  return ok(identityView(getIdentity(ctx, p)));
}

export function deleteIdentity(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const identity = ctx.store.get(identityId(ctx.subscriptionId, p["rg"]!, p["identity"]!));
  if (!identity) return { status: 204 };
  ctx.store.delete(identity.id);
  return { status: 200 };
}

export function listIdentitiesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, identityType, (_store, r) => identityView(r), p["rg"]!);
}

export function listIdentities(ctx: Ctx): Reply {
  return listOfType(ctx, identityType, (_store, r) => identityView(r));
}

// ---------------------------------------------------------------- role assignments

function scopeOf(p: Params, subscriptionId: string): string {
  const base = `/subscriptions/${subscriptionId}`;
  if (p["rg"] === undefined) return base;
  const group = `${base}/resourceGroups/${p["rg"]}`;
  if (p["namespace"] === undefined) return group;
  return `${group}/providers/${p["namespace"]}/${p["resourceType"]}/${p["resourceName"]}`;
}

function roleAssignmentView(assignment: StoredResource): unknown {
  return {
    properties: { ...assignment.properties },
    id: assignment.id,
    type: roleAssignmentType,
    name: assignment.name,
  };
}

/** Creates a role assignment directly (seeding, local provisioning). */
export function writeRoleAssignment(
  store: Store,
  input: {
    subscriptionId: string;
    scope: string;
    name?: string;
    roleDefinitionId: string;
    principalId: string;
    principalType?: string;
  },
  nowMs: number,
): StoredResource {
  const name = input.name ?? guidOf(`${input.scope}|${input.roleDefinitionId}|${input.principalId}`.toLowerCase());
  const id = `${input.scope}/providers/${roleAssignmentType}/${name}`;
  const rg = /\/resourceGroups\/([^/]+)/i.exec(input.scope)?.[1] ?? "";
  const existing = store.get(id);
  const assignment: StoredResource = {
    id: existing?.id ?? id,
    type: roleAssignmentType,
    name,
    location: "",
    subscriptionId: input.subscriptionId,
    resourceGroup: rg,
    properties: {
      roleDefinitionId: input.roleDefinitionId,
      principalId: input.principalId,
      principalType: input.principalType ?? "ServicePrincipal",
      scope: input.scope,
      condition: null,
      conditionVersion: null,
      createdOn: isoTime(existing?.createdAtMs ?? nowMs),
      updatedOn: isoTime(nowMs),
      createdBy: null,
      updatedBy: emulatorTenantId,
      delegatedManagedIdentityResourceId: null,
      description: null,
    },
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
  };
  store.put(assignment);
  return assignment;
}

export function putRoleAssignment(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const props = asObject(body["properties"]);
  for (const field of ["roleDefinitionId", "principalId"]) {
    if (typeof props[field] !== "string" || props[field] === "") {
      throw new ArmError(400, "InvalidRoleAssignmentRequest", `The role assignment request is missing '${field}'.`);
    }
  }
  if (p["rg"] !== undefined) requireResourceGroupForRead(ctx, p["rg"]);
  const scope = scopeOf(p, ctx.subscriptionId);
  const existing = ctx.store.get(`${scope}/providers/${roleAssignmentType}/${p["assignment"]!}`);
  const assignment = writeRoleAssignment(
    ctx.store,
    {
      subscriptionId: ctx.subscriptionId,
      scope,
      name: p["assignment"]!,
      roleDefinitionId: String(props["roleDefinitionId"]),
      principalId: String(props["principalId"]),
      principalType: typeof props["principalType"] === "string" ? props["principalType"] : undefined,
    },
    ctx.nowMs,
  );
  return ok(roleAssignmentView(assignment), existing ? 200 : 201);
}

export function getRoleAssignment(ctx: Ctx, p: Params): Reply {
  const scope = scopeOf(p, ctx.subscriptionId);
  const assignment = ctx.store.get(`${scope}/providers/${roleAssignmentType}/${p["assignment"]!}`);
  if (!assignment) {
    throw new ArmError(404, "RoleAssignmentNotFound", `The role assignment '${p["assignment"]!}' is not found.`);
  }
  return ok(roleAssignmentView(assignment));
}

export function deleteRoleAssignment(ctx: Ctx, p: Params): Reply {
  const scope = scopeOf(p, ctx.subscriptionId);
  const assignment = ctx.store.get(`${scope}/providers/${roleAssignmentType}/${p["assignment"]!}`);
  if (!assignment) return { status: 204 };
  ctx.store.delete(assignment.id);
  return ok(roleAssignmentView(assignment));
}

/** Whether `principalId` holds a role assignment at `targetId` or any scope above it (optionally one of `roles`). */
export function hasRoleAt(store: Store, principalId: string, targetId: string, roles?: readonly string[]): boolean {
  const target = targetId.toLowerCase().replace(/\/+$/, "");
  for (const assignment of store.ofType(undefined, roleAssignmentType)) {
    const props = assignment.properties;
    if (String(props["principalId"]).toLowerCase() !== principalId.toLowerCase()) continue;
    const scope = String(props["scope"]).toLowerCase().replace(/\/+$/, "");
    if (target !== scope && !target.startsWith(`${scope}/`)) continue;
    if (roles && !roles.some((r) => String(props["roleDefinitionId"]).toLowerCase().endsWith(`/${r}`))) continue;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- plain resources (seeded)

/**
 * Resources the emulator holds without serving them (virtual machines, managed disks, snapshots, virtual networks,
 * storage accounts): seeded through the admin API so that the rules that read them (version sources, Image Builder's
 * network permission) can see them.
 */
export function writePlainResource(
  store: Store,
  input: {
    id: string;
    location: string;
    tags?: Record<string, string>;
    properties?: Record<string, unknown>;
  },
  nowMs: number,
): StoredResource {
  const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)(.*)$/i.exec(
    input.id,
  );
  if (!match) throw new ArmError(400, "InvalidRequestContent", `Seed: '${input.id}' is not a resource id.`);
  const [, subscriptionId, resourceGroup, type, name, nested] = match;
  const nestedTypes = (nested ?? "").split("/").filter(Boolean);
  const fullType = [type, ...nestedTypes.filter((_, i) => i % 2 === 0)].join("/");
  const existing = store.get(input.id);
  const resource: StoredResource = {
    id: existing?.id ?? input.id,
    type: fullType,
    name: nestedTypes.length > 0 ? nestedTypes[nestedTypes.length - 1]! : name!,
    location: input.location,
    subscriptionId: subscriptionId!,
    resourceGroup: resourceGroup!,
    tags: input.tags,
    properties: input.properties ?? {},
    createdAtMs: existing?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
  };
  store.put(resource);
  return resource;
}
