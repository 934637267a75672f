import { setTimeout as delay } from "node:timers/promises";
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { isRestError } from "@azure/core-rest-pipeline";
import { UsageUnavailableError } from "../errors.js";
import type { FleetMember, FleetReadOptions, FleetUsage, FleetUsageReader } from "../ports.js";
import type { ArmClients } from "./armClients.js";

/**
 * The fleet from Azure Resource Graph (`@azure/arm-resourcegraph`, api-version 2024-04-01). One sweep is one query over
 * `Resources` (VMs, Flexible scale sets' VMs, scale sets), paged 1,000 rows at a time, plus one over `ComputeResources`
 * only when Uniform scale sets exist (their instances live there), plus one over `ResourceContainers` only when a
 * subscription answered nothing (Resource Graph leaves out subscriptions the caller cannot read without a sign: an
 * empty one must be told from an unreadable one). The sweep follows Resource Graph's per-user quota from the answers'
 * `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`, waits out a 429 within its patience, and otherwise
 * fails whole: a partial fleet would let pruning delete a version in use. Facts and sources: README.md ("Where each
 * version runs") and local/arm/README.md (RG1-RG8).
 */

/** Resource Graph's largest page (`$top` at most 1000). */
export const resourceGraphPageSize = 1000;

const galleries = "/providers/microsoft.compute/galleries/";

/** VMs (a Flexible scale set's among them) and scale sets on a gallery image, and every Uniform scale set. */
export const fleetQuery = [
  "Resources",
  "| where type in~ ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets')",
  "| extend imageId = coalesce(tostring(properties.storageProfile.imageReference.id), tostring(properties.virtualMachineProfile.storageProfile.imageReference.id)), orchestrationMode = tostring(properties.orchestrationMode)",
  `| where imageId contains '${galleries}' or (type =~ 'microsoft.compute/virtualmachinescalesets' and orchestrationMode !~ 'Flexible')`,
  "| project id, type, subscriptionId, resourceGroup, imageId, exactVersion = tostring(properties.storageProfile.imageReference.exactVersion), scaleSetId = tostring(properties.virtualMachineScaleSet.id), orchestrationMode",
].join("\n");

/** Uniform scale sets' instances on a gallery image (they are not in `Resources`). */
export const instancesQuery = [
  "ComputeResources",
  "| where type =~ 'microsoft.compute/virtualmachinescalesets/virtualmachines'",
  "| extend imageId = tostring(properties.storageProfile.imageReference.id)",
  `| where imageId contains '${galleries}'`,
  "| project id, subscriptionId, resourceGroup, imageId, exactVersion = tostring(properties.storageProfile.imageReference.exactVersion)",
].join("\n");

/** The subscriptions the caller can read. */
export const subscriptionsQuery = [
  "ResourceContainers",
  "| where type =~ 'microsoft.resources/subscriptions'",
  "| project id, subscriptionId",
].join("\n");

type Row = Record<string, unknown>;

/** `hh:mm:ss` (as `x-ms-user-quota-resets-after` is documented) in milliseconds. */
export function parseResetsAfter(value: string | undefined): number | undefined {
  const m = /^(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value?.trim() ?? "");
  if (!m) return undefined;
  const fraction = m[4] ? Number(`0.${m[4]}`) : 0;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3]) + fraction) * 1000;
}

export interface ResourceGraphFleetReaderOptions {
  /** Rows per page (1..1000). */
  pageSize?: number;
  /** How long one sweep may wait in all for Resource Graph's quota before it gives up. */
  maxThrottleWaitInMs?: number;
  /** Waits (tests pass a fake). */
  sleep?: (ms: number) => Promise<unknown>;
  /** Milliseconds on a monotonic clock, for the age of the last sweep (tests pass a fake). */
  now?: () => number;
}

const text = (v: unknown) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

export class ResourceGraphFleetReader implements FleetUsageReader {
  private readonly pageSize: number;
  private readonly maxThrottleWaitInMs: number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly now: () => number;
  /** The last sweep begun, per set of subscriptions (in flight or done; a failed one is forgotten). */
  private readonly lastSweeps = new Map<string, { startedAtMs: number; sweep: Promise<FleetUsage> }>();

  constructor(
    private readonly clients: Pick<ArmClients, "resourceGraph">,
    options: ResourceGraphFleetReaderOptions = {},
  ) {
    this.pageSize = options.pageSize ?? resourceGraphPageSize;
    this.maxThrottleWaitInMs = options.maxThrottleWaitInMs ?? 60_000;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * One sweep, or (with `maxAgeInMs`) the last one of the same subscriptions if it began recently enough, in flight
   * or done: views called often (the status API, the dashboard, several at once) then cost Resource Graph one query
   * set per period instead of one per call, within its 15 queries per 5 s per user. Resource Graph itself lags ARM by
   * seconds (users report 95% of changes within 30 s), so a view of a minute's age says little less.
   */
  readUsage(subscriptionIds: readonly string[], options: FleetReadOptions = {}): Promise<FleetUsage> {
    const subscriptions = [...new Set(subscriptionIds.map((s) => s.toLowerCase()))];
    if (subscriptions.length === 0) {
      return Promise.reject(new UsageUnavailableError("no subscription to read usage from"));
    }
    const key = [...subscriptions].sort().join(",");
    const now = this.now();
    const last = this.lastSweeps.get(key);
    if (last && options.maxAgeInMs !== undefined && now - last.startedAtMs <= options.maxAgeInMs) return last.sweep;
    const sweep = this.sweepOnce(subscriptions);
    this.lastSweeps.set(key, { startedAtMs: now, sweep });
    sweep.catch(() => {
      if (this.lastSweeps.get(key)?.sweep === sweep) this.lastSweeps.delete(key);
    });
    return sweep;
  }

  private async sweepOnce(subscriptions: string[]): Promise<FleetUsage> {
    const client = await this.clients.resourceGraph();
    const sweep = { waitedMs: 0, waitBeforeNextMs: 0 };
    const readAt = new Date();
    const members: FleetMember[] = [];
    const seen = new Set<string>();
    let uniformSets = 0;
    for (const row of await this.queryAll(client, subscriptions, fleetQuery, sweep)) {
      const type = text(row["type"]).toLowerCase();
      const subscriptionId = text(row["subscriptionId"]);
      seen.add(subscriptionId.toLowerCase());
      const scaleSet = type === "microsoft.compute/virtualmachinescalesets";
      if (scaleSet && text(row["orchestrationMode"]).toLowerCase() !== "flexible") uniformSets += 1;
      if (!text(row["imageId"]).toLowerCase().includes(galleries)) continue;
      const scaleSetId = text(row["scaleSetId"]);
      members.push({
        id: text(row["id"]),
        kind: scaleSet ? "scaleSet" : scaleSetId ? "scaleSetInstance" : "virtualMachine",
        subscriptionId,
        resourceGroup: text(row["resourceGroup"]),
        imageId: text(row["imageId"]),
        ...(text(row["exactVersion"]) ? { exactVersion: text(row["exactVersion"]) } : {}),
        ...(scaleSetId && !scaleSet ? { scaleSetId } : {}),
      });
    }
    if (uniformSets > 0) {
      for (const row of await this.queryAll(client, subscriptions, instancesQuery, sweep)) {
        const id = text(row["id"]);
        seen.add(text(row["subscriptionId"]).toLowerCase());
        members.push({
          id,
          kind: "scaleSetInstance",
          subscriptionId: text(row["subscriptionId"]),
          resourceGroup: text(row["resourceGroup"]),
          imageId: text(row["imageId"]),
          ...(text(row["exactVersion"]) ? { exactVersion: text(row["exactVersion"]) } : {}),
          scaleSetId: id.replace(/\/virtualMachines\/[^/]+$/i, ""),
        });
      }
    }
    const silent = subscriptions.filter((s) => !seen.has(s));
    if (silent.length > 0) {
      const readable = new Set(
        (await this.queryAll(client, silent, subscriptionsQuery, sweep)).map((r) =>
          text(r["subscriptionId"]).toLowerCase(),
        ),
      );
      const unreadable = silent.filter((s) => !readable.has(s));
      if (unreadable.length > 0) {
        throw new UsageUnavailableError(
          `Resource Graph shows nothing of subscription ${unreadable.join(", ")}: the app cannot read it (give its ` +
            "identity the fleet reader role there, infra/app/rbac.bicep), so where the images run is not known whole",
        );
      }
    }
    return { readAt, subscriptionIds: subscriptions, members };
  }

  /** Every row of a query, page after page, within the sweep's quota and patience. */
  private async queryAll(
    client: ResourceGraphClient,
    subscriptions: string[],
    query: string,
    sweep: { waitedMs: number; waitBeforeNextMs: number },
  ): Promise<Row[]> {
    const rows: Row[] = [];
    let skipToken: string | undefined;
    do {
      const page = await this.queryPage(client, subscriptions, query, skipToken, sweep);
      if (page.resultTruncated === "true") {
        // Only a query without an `id` column is cut short; ours all have one. Never act on a partial answer.
        throw new UsageUnavailableError("Resource Graph cut the answer short (resultTruncated) instead of paging it");
      }
      if (!Array.isArray(page.data))
        throw new UsageUnavailableError("Resource Graph answered rows in an unexpected shape");
      rows.push(...(page.data as Row[]));
      skipToken = page.skipToken;
    } while (skipToken);
    return rows;
  }

  private async queryPage(
    client: ResourceGraphClient,
    subscriptions: string[],
    query: string,
    skipToken: string | undefined,
    sweep: { waitedMs: number; waitBeforeNextMs: number },
  ) {
    for (;;) {
      if (sweep.waitBeforeNextMs > 0) await this.wait(sweep, sweep.waitBeforeNextMs, "its quota is spent");
      sweep.waitBeforeNextMs = 0;
      let headers: { get(name: string): string | undefined } | undefined;
      try {
        const page = await client.resources(
          {
            subscriptions,
            query,
            options: { top: this.pageSize, resultFormat: "objectArray", ...(skipToken ? { skipToken } : {}) },
          },
          { onResponse: (response) => (headers = response.headers) },
        );
        // The quota this answer left: none means waiting for its reset before the next query.
        if (headers?.get("x-ms-user-quota-remaining") === "0") {
          sweep.waitBeforeNextMs = parseResetsAfter(headers.get("x-ms-user-quota-resets-after")) ?? 5000;
        }
        return page;
      } catch (error) {
        if (!isRestError(error))
          throw new UsageUnavailableError(`Resource Graph could not be queried: ${String(error)}`);
        if (error.statusCode === 429) {
          const resetsAfter = parseResetsAfter(error.response?.headers.get("x-ms-user-quota-resets-after"));
          await this.wait(sweep, resetsAfter ?? 5000, "it throttled the sweep (429)");
          continue;
        }
        if (error.statusCode === 403) {
          throw new UsageUnavailableError(
            `Resource Graph denied access to subscriptions ${subscriptions.join(", ")} (403 ${error.code ?? ""}): the ` +
              "app's identity needs the fleet reader role there (infra/app/rbac.bicep)",
            { cause: error },
          );
        }
        throw new UsageUnavailableError(
          `Resource Graph query failed (${error.statusCode ?? "no answer"} ${error.code ?? ""}): ${error.message}`,
          { cause: error },
        );
      }
    }
  }

  private async wait(sweep: { waitedMs: number }, ms: number, why: string): Promise<void> {
    if (sweep.waitedMs + ms > this.maxThrottleWaitInMs) {
      throw new UsageUnavailableError(
        `Resource Graph's quota would keep the sweep waiting more than ${Math.round(this.maxThrottleWaitInMs / 1000)} s (${why}): the next run reads again`,
      );
    }
    sweep.waitedMs += ms;
    await this.sleep(ms);
  }
}
