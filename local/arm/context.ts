import { randomUUID } from "node:crypto";
import type { ArmErrorBody } from "./errors.js";
import { ArmError, resourceGroupBeingDeleted, resourceGroupNotFound } from "./errors.js";
import { normalizeRegion } from "./names.js";
import type { ResourceGraphQuota } from "./resourceGraph.js";
import { runStatus, versionStatus } from "./simulation.js";
import type { StoredOperation, Store, StoredResource } from "./store.js";

/** What a handler sees of one request. */
export interface Ctx {
  method: string;
  url: URL;
  /** `https://host:port` as the client addressed us: poll URLs and next links are built from it. */
  baseUrl: string;
  apiVersion: string;
  subscriptionId: string;
  body: unknown;
  store: Store;
  nowMs: number;
  random: () => number;
  /** The caller's Resource Graph quota window (kept by the server, not in the store). */
  resourceGraphQuota: ResourceGraphQuota;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** A non-JSON answer (the admin API's blobs). */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export type Params = Record<string, string>;

export function ok(body: unknown, status = 200): Reply {
  return { status, body };
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function asObject(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The request body as an object; ARM answers a non-object body with InvalidRequestContent. */
export function bodyObject(ctx: Ctx): Record<string, unknown> {
  if (typeof ctx.body !== "object" || ctx.body === null || Array.isArray(ctx.body)) {
    throw new ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.");
  }
  return ctx.body as Record<string, unknown>;
}

export function tagsOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  const tags = asObject(value);
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)]));
}

/**
 * Resolves the resource group a write goes to: a missing group is ResourceGroupNotFound (ARM), a group being deleted
 * refuses writes; only with the `implicitResourceGroups` option is a missing group created on first use.
 */
export function ensureResourceGroup(ctx: Ctx, resourceGroup: string, location: string): void {
  const group = ctx.store.getGroup(ctx.subscriptionId, resourceGroup);
  if (group) {
    if (group.deletingUntilMs !== undefined) throw resourceGroupBeingDeleted(group.name);
    return;
  }
  if (!ctx.store.config.implicitResourceGroups) throw resourceGroupNotFound(resourceGroup);
  ctx.store.putGroup({ subscriptionId: ctx.subscriptionId, name: resourceGroup, location, createdAtMs: ctx.nowMs });
}

/**
 * Reads, lists and deletes under a missing resource group answer ResourceGroupNotFound (ARM checks the group before
 * the resource provider answers), unless groups are implicit.
 */
export function requireResourceGroupForRead(ctx: Ctx, resourceGroup: string): void {
  if (ctx.store.config.implicitResourceGroups) return;
  if (!ctx.store.getGroup(ctx.subscriptionId, resourceGroup)) throw resourceGroupNotFound(resourceGroup);
}

/** Writes that address an existing parent (PATCH, POST) need the group to exist and not be deleting. */
export function requireResourceGroupForWrite(ctx: Ctx, resourceGroup: string): void {
  const group = ctx.store.getGroup(ctx.subscriptionId, resourceGroup);
  if (!group) {
    if (ctx.store.config.implicitResourceGroups) return;
    throw resourceGroupNotFound(resourceGroup);
  }
  if (group.deletingUntilMs !== undefined) throw resourceGroupBeingDeleted(group.name);
}

/** One page of a list, with an absolute `nextLink` carrying `$skiptoken` while more remain. */
export function page(ctx: Ctx, items: unknown[]): Reply {
  const skip = Number(ctx.url.searchParams.get("$skiptoken") ?? "0") || 0;
  const size = ctx.store.config.pageSize;
  const value = items.slice(skip, skip + size);
  const body: Record<string, unknown> = { value };
  if (skip + size < items.length) {
    const next = new URL(ctx.url.pathname, ctx.baseUrl);
    next.searchParams.set("api-version", ctx.apiVersion);
    for (const [k, v] of ctx.url.searchParams)
      if (k !== "api-version" && k !== "$skiptoken") next.searchParams.set(k, v);
    next.searchParams.set("$skiptoken", String(skip + size));
    body["nextLink"] = next.toString();
  }
  return ok(body);
}

/**
 * A List operation over one resource type, as the RPs answer it: in one resource group (404 when the group is missing
 * and groups are explicit) or, without one, across the subscription; paged.
 */
export function listOfType(
  ctx: Ctx,
  type: string,
  view: (store: Store, resource: StoredResource) => unknown,
  resourceGroup?: string,
): Reply {
  if (resourceGroup !== undefined) requireResourceGroupForRead(ctx, resourceGroup);
  const resources =
    resourceGroup === undefined
      ? ctx.store.ofType(ctx.subscriptionId, type)
      : ctx.store.inGroup(ctx.subscriptionId, resourceGroup).filter((r) => r.type.toLowerCase() === type.toLowerCase());
  return page(
    ctx,
    resources.map((r) => view(ctx.store, r)),
  );
}

/**
 * The time fields of a resource written by a PUT that provisions asynchronously: created once, updated now,
 * provisioned after the configured operation duration (while "Creating" or "Updating").
 */
export function provisioningTimes(ctx: Ctx, existing: StoredResource | undefined) {
  return {
    createdAtMs: existing?.createdAtMs ?? ctx.nowMs,
    updatedAtMs: ctx.nowMs,
    provisionedAtMs: ctx.nowMs + ctx.store.config.operationDurationInMs,
    provisioningPhase: existing ? ("update" as const) : ("create" as const),
    apiVersion: existing?.apiVersion ?? ctx.apiVersion,
  };
}

/**
 * provisioningState of a resource whose create/update is a plain timed LRO: Creating/Updating until provisioned,
 * then Succeeded (or Failed when provisioning was refused); Deleting while a delete is in progress.
 */
export function plainProvisioningState(resource: StoredResource, nowMs: number): string {
  if (resource.deletingUntilMs !== undefined) return "Deleting";
  if (resource.provisionedAtMs !== undefined && nowMs < resource.provisionedAtMs) {
    return resource.provisioningPhase === "update" ? "Updating" : "Creating";
  }
  return resource.provisioningFailure ? "Failed" : "Succeeded";
}

/** api-version dates compare as strings ("2025-03-03" >= "2024-03-03"); preview suffixes are ignored. */
export function apiVersionAtLeast(apiVersion: string | undefined, minimum: string): boolean {
  return (apiVersion ?? "").slice(0, 10) >= minimum;
}

// ---- long-running operations ----

export function startOperation(
  ctx: Ctx,
  provider: StoredOperation["provider"],
  location: string,
  fields: Pick<StoredOperation, "kind"> & Partial<StoredOperation>,
): StoredOperation {
  const op: StoredOperation = {
    id: randomUUID(),
    provider,
    subscriptionId: ctx.subscriptionId,
    location: normalizeRegion(location || "westus"),
    startMs: ctx.nowMs,
    ...fields,
  };
  ctx.store.addOperation(op);
  return op;
}

function operationPath(op: StoredOperation): string {
  switch (op.provider) {
    case "compute":
      return `/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}`;
    case "imagebuilder":
      return `/subscriptions/${op.subscriptionId}/providers/Microsoft.VirtualMachineImages/locations/${op.location}/operations/${op.id}`;
    case "resources":
      return `/subscriptions/${op.subscriptionId}/operationresults/${op.id}`;
  }
}

/** The operation status resource URL (`Azure-AsyncOperation`). */
export function asyncOperationUrl(ctx: Ctx, op: StoredOperation): string {
  return `${ctx.baseUrl}${operationPath(op)}?api-version=${ctx.apiVersion}`;
}

/** The monitor URL (`Location`): 202 while running, 200 once done. */
export function monitorUrl(ctx: Ctx, op: StoredOperation): string {
  return `${asyncOperationUrl(ctx, op)}&monitor=true`;
}

export function lroHeaders(
  ctx: Ctx,
  op: StoredOperation,
  which: { asyncOperation?: boolean; location?: boolean | "operation" },
): Record<string, string> {
  const headers: Record<string, string> = { "Retry-After": String(ctx.store.config.retryAfterInSeconds) };
  if (which.asyncOperation) headers["Azure-AsyncOperation"] = asyncOperationUrl(ctx, op);
  // Image Builder's Location is its operation URL itself (200 with the status body), not a 202/200 monitor.
  if (which.location)
    headers["Location"] = which.location === "operation" ? asyncOperationUrl(ctx, op) : monitorUrl(ctx, op);
  return headers;
}

/** The gallery RP's message for failed replication (quoted in Azure/azure-cli#15539). */
export function replicationFailureMessage(failed: { region: string; details: string }[]): string {
  const details = failed.map((f) => `{region:${normalizeRegion(f.region)}, detail:${f.details}}`).join(", ");
  return (
    "Gallery replication jobs failed in one or more regions. The failing regions' details are as follows: " +
    `'${details}'. If retry does not work, then please do an update by removing the failed regions and update ` +
    "again by adding them back."
  );
}

export interface OperationStatus {
  status: "InProgress" | "Succeeded" | "Failed" | "Canceled";
  endMs?: number;
  error?: ArmErrorBody;
}

export function operationStatus(store: Store, op: StoredOperation, nowMs: number): OperationStatus {
  switch (op.kind) {
    case "timer": {
      const done = nowMs >= (op.completesAtMs ?? op.startMs);
      if (!done) return { status: "InProgress" };
      return op.error
        ? { status: "Failed", endMs: op.completesAtMs, error: op.error }
        : { status: "Succeeded", endMs: op.completesAtMs };
    }
    case "version": {
      const version = op.resourceKey ? store.resources.get(op.resourceKey) : undefined;
      if (version?.provisioningFailure) {
        const endMs = version.provisionedAtMs ?? op.startMs;
        if (nowMs < endMs) return { status: "InProgress" };
        const { code, message } = version.provisioningFailure;
        return { status: "Failed", endMs, error: { code, message } };
      }
      if (!version?.replication) return { status: "Canceled", endMs: op.startMs };
      const vs = versionStatus(version.replication, nowMs);
      if (vs.provisioningState === "Creating" || vs.provisioningState === "Updating") return { status: "InProgress" };
      const updateEndMs = version.provisioningPhase === "update" ? (version.provisionedAtMs ?? 0) : 0;
      if (nowMs < updateEndMs) return { status: "InProgress" };
      if (vs.provisioningState === "Succeeded")
        return { status: "Succeeded", endMs: Math.max(vs.settlesAtMs, updateEndMs) };
      const failed = vs.summary.filter((s) => s.state === "Failed");
      return {
        status: "Failed",
        endMs: vs.settlesAtMs,
        error: { code: "ReplicationFailed", message: replicationFailureMessage(failed) },
      };
    }
    case "run":
    case "cancel": {
      const template = op.resourceKey ? store.resources.get(op.resourceKey) : undefined;
      const run = template?.lastRun;
      if (!run || run.runId !== op.runId) return { status: "Canceled", endMs: op.startMs };
      const rs = runStatus(run, nowMs);
      if (op.kind === "cancel") {
        if (rs.runState === "Canceling" || rs.runState === "Running") return { status: "InProgress" };
        return { status: "Succeeded", endMs: rs.endMs };
      }
      switch (rs.runState) {
        case "Running":
        case "Canceling":
          return { status: "InProgress" };
        case "Succeeded":
          return { status: "Succeeded", endMs: rs.endMs };
        case "Canceled":
          return { status: "Canceled", endMs: rs.endMs };
        case "PartiallySucceeded":
        case "Failed":
          return { status: "Failed", endMs: rs.endMs, error: { code: "InternalOperationError", message: rs.message } };
      }
    }
  }
}
