import { randomUUID } from "node:crypto";
import type { ArmErrorBody } from "./errors.js";
import { ArmError, resourceGroupNotFound } from "./errors.js";
import { normalizeRegion } from "./names.js";
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
}

export interface Reply {
  status: number;
  body?: unknown;
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
 * Resolves the resource group a write goes to: with implicit resource groups on, it is created on first use;
 * otherwise a missing group is ResourceGroupNotFound.
 */
export function ensureResourceGroup(ctx: Ctx, resourceGroup: string, location: string): void {
  if (ctx.store.getGroup(ctx.subscriptionId, resourceGroup)) return;
  if (!ctx.store.config.implicitResourceGroups) throw resourceGroupNotFound(resourceGroup);
  ctx.store.putGroup({ subscriptionId: ctx.subscriptionId, name: resourceGroup, location, createdAtMs: ctx.nowMs });
}

/** Reads need the resource group to exist only when groups are explicit. */
export function requireResourceGroupForRead(ctx: Ctx, resourceGroup: string): void {
  if (ctx.store.config.implicitResourceGroups) return;
  if (!ctx.store.getGroup(ctx.subscriptionId, resourceGroup)) throw resourceGroupNotFound(resourceGroup);
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
  };
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
  return op.provider === "compute"
    ? `/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}`
    : `/subscriptions/${op.subscriptionId}/providers/Microsoft.VirtualMachineImages/locations/${op.location}/operations/${op.id}`;
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
  which: { asyncOperation?: boolean; location?: boolean },
): Record<string, string> {
  const headers: Record<string, string> = { "Retry-After": String(ctx.store.config.retryAfterInSeconds) };
  if (which.asyncOperation) headers["Azure-AsyncOperation"] = asyncOperationUrl(ctx, op);
  if (which.location) headers["Location"] = monitorUrl(ctx, op);
  return headers;
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
      if (!version?.replication) return { status: "Canceled", endMs: op.startMs };
      const vs = versionStatus(version.replication, nowMs);
      if (vs.provisioningState === "Creating" || vs.provisioningState === "Updating") return { status: "InProgress" };
      if (vs.provisioningState === "Succeeded") return { status: "Succeeded", endMs: vs.settlesAtMs };
      const failed = vs.summary.filter((s) => s.state === "Failed");
      return {
        status: "Failed",
        endMs: vs.settlesAtMs,
        error: {
          code: "ReplicationFailed",
          message:
            `Replication failed in region(s) ${failed.map((f) => `'${f.region}'`).join(", ")}: ` +
            failed.map((f) => f.details).join(" "),
        },
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
        case "PartiallySucceeded":
          return { status: "Succeeded", endMs: rs.endMs };
        case "Canceled":
          return { status: "Canceled", endMs: rs.endMs };
        case "Failed":
          return { status: "Failed", endMs: rs.endMs, error: { code: "InternalOperationError", message: rs.message } };
      }
    }
  }
}
