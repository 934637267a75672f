import { normalizeRegion } from "./gallery.js";

export { normalizeRegion };

/** One region of a gallery image version's `replicationStatus.summary`. */
export interface RegionalReplication {
  region?: string;
  /** `Unknown` | `Replicating` | `Completed` | `Failed`. */
  state?: string;
  details?: string;
  progress?: number;
}

/** A gallery image version's `replicationStatus` (read with `$expand=ReplicationStatus`). */
export interface ReplicationStatusSnapshot {
  aggregatedState?: string;
  summary?: readonly RegionalReplication[];
}

/** Input of {@link decideReplication}. */
export interface ReplicationInput {
  /** The version's provisioningState: `Creating|Updating|Failed|Succeeded|Deleting|Migrating`. */
  provisioningState?: string;
  replicationStatus?: ReplicationStatusSnapshot;
  /** The regions the version must reach (the catalog's target regions). */
  targetRegions: readonly string[];
  /** The regions the version holds now (its `publishingProfile.targetRegions`). */
  currentRegions: readonly string[];
  /** The version's own region (its definition's): it cannot be removed from the version. */
  homeRegion: string;
  /** Recovery steps already taken (same-regions retries and region removals). */
  retriesSoFar: number;
  maxRetries: number;
  startedAt?: Date;
  now?: Date;
  timeoutInMs?: number;
}

/** What the replication watcher does next. */
export type ReplicationDecision =
  /** Check again later; `progress` is the mean over target regions, 0..100. */
  | { action: "wait"; progress: number; reason?: string }
  /** Every target region has the version: let `latest` point at it. */
  | { action: "promote" }
  /** Update the version with the same target regions, so Azure replicates the failed ones again. */
  | { action: "retry"; regions: string[] }
  /** A retry did not help: remove the failed regions (they are added back once the removal is done). */
  | { action: "removeRegions"; regions: string[] }
  /** Target regions are missing from the version (removed by the previous step): add them back. */
  | { action: "restoreRegions"; regions: string[] }
  /** Something else is deleting the version: leave it alone. */
  | { action: "skip"; reason: string }
  | { action: "fail"; reason: string };

/**
 * Decides from one observation of a version what to do next. Promotes only when provisioning succeeded and every
 * target region reports `Completed`. A failed region is recovered the way Azure's replication error asks
 * ("Retry by updating the image version with the same target regions. If retry does not work, remove the failed
 * regions and update again by adding them back"): first a same-regions update, then removals and re-additions,
 * `maxRetries` recovery steps in all; past them, or past `timeoutInMs` since `startedAt`, the version fails. The
 * home region cannot be removed, so it only gets same-regions retries.
 */
export function decideReplication(input: ReplicationInput): ReplicationDecision {
  const byRegion = new Map<string, RegionalReplication>();
  for (const entry of input.replicationStatus?.summary ?? []) {
    if (entry.region !== undefined) byRegion.set(normalizeRegion(entry.region), entry);
  }
  const current = new Set(input.currentRegions.map(normalizeRegion));
  const regions = input.targetRegions.map((name) => ({
    name,
    present: current.has(normalizeRegion(name)),
    status: byRegion.get(normalizeRegion(name)),
  }));
  const state = input.provisioningState;
  if (state === "Deleting") return { action: "skip", reason: "the image version is being deleted" };

  const missing = regions.filter((r) => !r.present).map((r) => r.name);
  const settling = state === "Creating" || state === "Updating";
  const allCompleted = regions.length > 0 && regions.every((r) => r.present && r.status?.state === "Completed");
  if (state === "Succeeded" && allCompleted) return { action: "promote" };

  const elapsed =
    input.startedAt && input.now ? input.now.getTime() - input.startedAt.getTime() : Number.NEGATIVE_INFINITY;
  if (input.timeoutInMs !== undefined && elapsed > input.timeoutInMs) {
    const pending = regions.filter((r) => r.status?.state !== "Completed").map((r) => r.name);
    return {
      action: "fail",
      reason: `replication did not complete within ${input.timeoutInMs} ms (pending: ${pending.join(", ") || "none"}; provisioningState ${state ?? "unknown"})`,
    };
  }

  // A removal in progress settles first; then the regions it took out go back in.
  if (missing.length > 0) {
    return settling
      ? { action: "wait", progress: progressOf(regions), reason: `removing ${missing.join(", ")}` }
      : { action: "restoreRegions", regions: missing };
  }

  const failed = regions.filter((r) => r.status?.state === "Failed");
  if (failed.length > 0 || state === "Failed") {
    // A failed provisioning without a failed region: recover whatever has not completed.
    const toRecover = failed.length > 0 ? failed : regions.filter((r) => r.status?.state !== "Completed");
    const details = failed.map((r) => `${r.name}${r.status?.details ? ` (${r.status.details})` : ""}`).join(", ");
    if (input.retriesSoFar < input.maxRetries && toRecover.length > 0) {
      const removable = toRecover.filter((r) => normalizeRegion(r.name) !== normalizeRegion(input.homeRegion));
      if (input.retriesSoFar === 0 || removable.length === 0) {
        return { action: "retry", regions: toRecover.map((r) => r.name) };
      }
      return { action: "removeRegions", regions: removable.map((r) => r.name) };
    }
    return {
      action: "fail",
      reason: `replication failed${details ? ` in ${details}` : ` (provisioningState ${state})`} after ${input.retriesSoFar} recovery attempt${input.retriesSoFar === 1 ? "" : "s"}`,
    };
  }

  return { action: "wait", progress: progressOf(regions) };
}

function progressOf(regions: { present: boolean; status?: RegionalReplication }[]): number {
  if (regions.length === 0) return 0;
  const sum = regions.reduce((total, r) => {
    if (!r.present) return total;
    if (r.status?.state === "Completed") return total + 100;
    const p = r.status?.progress;
    return total + (typeof p === "number" && Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0);
  }, 0);
  return Math.round(sum / regions.length);
}
