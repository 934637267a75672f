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
  /** The catalog's target regions, as written there (e.g. `westeurope`). */
  targetRegions: readonly string[];
  retriesSoFar: number;
  maxRetries: number;
  startedAt?: Date;
  now?: Date;
  timeoutInMs?: number;
}

/** What the replication watcher does next. */
export type ReplicationDecision =
  /** Check again later; `progress` is the mean over target regions, 0..100. */
  | { action: "wait"; progress: number }
  /** Every target region has the version: let `latest` point at it. */
  | { action: "promote" }
  /** Replicate these target regions again (catalog spelling). */
  | { action: "retry"; regions: string[] }
  | { action: "fail"; reason: string };

/** Region names compared as ARM does: `West Europe` is `westeurope`. */
export function normalizeRegion(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, "");
}

/**
 * Decides from one observation of a version whether to wait, promote, retry failed regions or give up. Promotes
 * only when provisioning succeeded and every target region reports `Completed`. A failed region is retried while
 * `retriesSoFar < maxRetries`; past `timeoutInMs` since `startedAt` the build fails.
 */
export function decideReplication(input: ReplicationInput): ReplicationDecision {
  const byRegion = new Map<string, RegionalReplication>();
  for (const entry of input.replicationStatus?.summary ?? []) {
    if (entry.region !== undefined) byRegion.set(normalizeRegion(entry.region), entry);
  }
  const regions = input.targetRegions.map((name) => ({ name, status: byRegion.get(normalizeRegion(name)) }));
  const state = input.provisioningState;

  if (state === "Deleting") return { action: "fail", reason: "the image version is being deleted" };
  const allCompleted = regions.length > 0 && regions.every((r) => r.status?.state === "Completed");
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

  const failed = regions.filter((r) => r.status?.state === "Failed");
  if (failed.length > 0 || state === "Failed") {
    // A failed provisioning without a failed region: retry whatever has not completed.
    const toRetry = (failed.length > 0 ? failed : regions.filter((r) => r.status?.state !== "Completed")).map(
      (r) => r.name,
    );
    const details = failed.map((r) => `${r.name}${r.status?.details ? ` (${r.status.details})` : ""}`).join(", ");
    if (input.retriesSoFar < input.maxRetries && toRetry.length > 0) return { action: "retry", regions: toRetry };
    return {
      action: "fail",
      reason: `replication failed${details ? ` in ${details}` : ` (provisioningState ${state})`} after ${input.retriesSoFar} retr${input.retriesSoFar === 1 ? "y" : "ies"}`,
    };
  }

  const progress =
    regions.length === 0
      ? 0
      : regions.reduce((sum, r) => {
          if (r.status?.state === "Completed") return sum + 100;
          const p = r.status?.progress;
          return sum + (typeof p === "number" && Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0);
        }, 0) / regions.length;
  return { action: "wait", progress: Math.round(progress) };
}
