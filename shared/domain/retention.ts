import type { CatalogRetention } from "../catalog/schema.js";
import { managedByValue, tagNames } from "./names.js";
import { latestVersionOf } from "./latest.js";
import { parseVersion } from "./versions.js";
import type { ImageVersion } from "./versions.js";
import { describeUsage, isInUse, type VersionUsage } from "./usage.js";

/** What the pruner knows about one gallery image version. */
export interface VersionSnapshot {
  name: string;
  publishedDate?: Date;
  endOfLifeDate?: Date;
  excludeFromLatest: boolean;
  /** `Creating|Updating|Failed|Succeeded|Deleting|Migrating`. */
  provisioningState?: string;
  tags: Readonly<Record<string, string>>;
  /** Per-region settings: a region's own `excludeFromLatest` decides `latest` there. */
  targetRegions?: readonly { name: string; excludeFromLatest?: boolean }[];
}

/** The catalog's retention settings. */
export type RetentionPolicy = CatalogRetention;

/**
 * Where versions run (one fleet sweep), by version name; or why that could not be read, in which case nothing is
 * deleted: a version in use must never be deleted, and an unread fleet cannot tell which ones are.
 */
export type RetentionUsage =
  { readable: true; byVersion: ReadonlyMap<string, VersionUsage> } | { readable: false; reason: string };

/** Why a version is deleted or kept; `code` is stable for programs, `reason` reads as a sentence. */
export type RetentionRule =
  | "failed"
  | "rolled-back"
  | "never-promoted"
  | "superseded"
  | "not-a-version"
  | "unmanaged"
  | "latest"
  | "newest-healthy"
  | "in-progress"
  | "before-end-of-life"
  | "too-young"
  | "age-unknown"
  | "in-use"
  | "usage-unknown"
  | "budget-exhausted";

export interface RetentionEntry {
  version: string;
  code: RetentionRule;
  reason: string;
}

export interface RetentionPlan {
  /** In deletion order: failed versions first, then rolled-back, never-promoted, superseded ones; oldest first. */
  deletions: RetentionEntry[];
  /** Highest version first. */
  kept: RetentionEntry[];
  /** The version `latest` resolves to now (the highest not excluded from latest). */
  latest?: string;
  /** Versions past their end of life that VMs or scale sets still run, highest first: their owners should move. */
  inUsePastEndOfLife: { version: string; endOfLifeDate: Date; usage: VersionUsage }[];
}

const dayInMs = 86_400_000;
const inProgressStates = new Set(["Creating", "Updating", "Deleting", "Migrating"]);
/** The pipeline's own states of a version it is still publishing (names.ts, versionStates). */
const inProgressTags = new Set(["distributing", "replicating"]);

/**
 * Healthy: provisioning succeeded and the version was promoted (not excluded from latest, state tag neither `failed`
 * nor `rolledBack`). Only healthy versions count toward `keepLatest`, so failed builds and versions an operator rolled
 * back cannot push the last good image out.
 */
export function isHealthy(v: VersionSnapshot): boolean {
  const state = v.tags[tagNames.state];
  return v.provisioningState === "Succeeded" && !v.excludeFromLatest && state !== "failed" && state !== "rolledBack";
}

function isFailed(v: VersionSnapshot): boolean {
  return v.provisioningState === "Failed" || v.tags[tagNames.state] === "failed";
}

function compareParsed(a: ImageVersion, b: ImageVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * Plans which versions of one image definition to delete, with a reason for every version. Never deleted: the
 * newest `keepLatest` healthy versions; the version `latest` resolves to; a version before its endOfLifeDate;
 * a version younger than `minAgeDays` (or of unknown age); a version still being created, updated or replicating
 * (stuck replication is the watcher's to fail, not the pruner's to guess); a version the pipeline did not create,
 * unless `includeUnmanaged`. At most `maxDeletionsPerRun` deletions, failed then never-promoted versions first.
 * A version without an endOfLifeDate is eligible once the other rules allow. With `usage`, a version that a VM, scale
 * set or scale-set instance runs is never deleted unless the catalog opts in (`deleteInUse`), and when the fleet could
 * not be read nothing is deleted at all; without `usage` (callers that only show a plan) usage is not considered.
 * Pure and deterministic: the input order does not matter. `dryRun` does not change the plan; the caller decides
 * whether to carry it out.
 */
export function planRetention(input: {
  versions: readonly VersionSnapshot[];
  policy: RetentionPolicy;
  now: Date;
  usage?: RetentionUsage;
}): RetentionPlan {
  const { policy, now } = input;
  const parsed = input.versions
    .map((snapshot) => ({ snapshot, version: parseVersion(snapshot.name) }))
    .sort((a, b) => {
      if (a.version && b.version)
        return compareParsed(b.version, a.version) || (a.snapshot.name < b.snapshot.name ? -1 : 1);
      if (a.version) return -1;
      if (b.version) return 1;
      return a.snapshot.name < b.snapshot.name ? -1 : a.snapshot.name > b.snapshot.name ? 1 : 0;
    });

  const latest = latestVersionOf(input.versions)?.name;
  // `latest` may resolve differently per region (a region's own excludeFromLatest): keep what it is anywhere.
  const regions = [...new Set(input.versions.flatMap((v) => (v.targetRegions ?? []).map((r) => r.name)))].sort();
  const latestSomewhere = new Map<string, string>();
  for (const region of regions) {
    const name = latestVersionOf(input.versions, region)?.name;
    if (name !== undefined && name !== latest && !latestSomewhere.has(name)) latestSomewhere.set(name, region);
  }
  const newestHealthy = new Set(
    parsed
      .filter((p) => p.version && isHealthy(p.snapshot))
      .slice(0, policy.keepLatest)
      .map((p) => p.snapshot.name),
  );
  const minAgeInMs = policy.minAgeDays * dayInMs;
  const usageOf = (name: string) => (input.usage?.readable ? input.usage.byVersion.get(name) : undefined);

  const kept: RetentionEntry[] = [];
  const candidates: { entry: RetentionEntry; rank: number; version: ImageVersion }[] = [];
  for (const { snapshot: v, version } of parsed) {
    const keep = (code: RetentionRule, reason: string) => kept.push({ version: v.name, code, reason });
    if (!version) {
      keep("not-a-version", "name is not Major.Minor.Patch");
      continue;
    }
    const managed = v.tags[tagNames.managedBy] === managedByValue;
    if (!managed && !policy.includeUnmanaged) {
      keep("unmanaged", "not created by image-pipeline (includeUnmanaged is false)");
    } else if (v.name === latest) {
      keep("latest", "latest resolves to this version");
    } else if (latestSomewhere.has(v.name)) {
      keep("latest", `latest resolves to this version in ${latestSomewhere.get(v.name)}`);
    } else if (newestHealthy.has(v.name)) {
      keep("newest-healthy", `one of the newest ${policy.keepLatest} healthy versions`);
    } else if (inProgressStates.has(v.provisioningState ?? "") || inProgressTags.has(v.tags[tagNames.state] ?? "")) {
      keep(
        "in-progress",
        `still in progress (provisioningState ${v.provisioningState ?? "unknown"}, state ${v.tags[tagNames.state] ?? "unset"})`,
      );
    } else if (v.endOfLifeDate && v.endOfLifeDate.getTime() > now.getTime()) {
      keep("before-end-of-life", `end of life is ${v.endOfLifeDate.toISOString()}`);
    } else if (!v.publishedDate) {
      keep("age-unknown", "published date unknown");
    } else if (now.getTime() - v.publishedDate.getTime() < minAgeInMs) {
      keep("too-young", `published ${v.publishedDate.toISOString()}, younger than ${policy.minAgeDays} days`);
    } else if (input.usage && !input.usage.readable) {
      keep("usage-unknown", `where it runs could not be read (${input.usage.reason}): nothing is deleted this run`);
    } else if (input.usage?.readable && isInUse(usageOf(v.name)) && policy.deleteInUse !== true) {
      keep(
        "in-use",
        `in use by ${describeUsage(usageOf(v.name)!)}; the catalog does not allow deleting versions in use`,
      );
    } else if (isFailed(v)) {
      candidates.push({
        entry: { version: v.name, code: "failed", reason: "build or replication failed" },
        rank: 0,
        version,
      });
    } else if (v.tags[tagNames.state] === "rolledBack") {
      candidates.push({
        entry: { version: v.name, code: "rolled-back", reason: "rolled back out of latest by an operator" },
        rank: 1,
        version,
      });
    } else if (!isHealthy(v)) {
      candidates.push({
        entry: { version: v.name, code: "never-promoted", reason: "never promoted (excluded from latest)" },
        rank: 2,
        version,
      });
    } else {
      const why = v.endOfLifeDate ? `past end of life (${v.endOfLifeDate.toISOString()})` : "no end of life date";
      candidates.push({
        entry: { version: v.name, code: "superseded", reason: `superseded by newer healthy versions, ${why}` },
        rank: 3,
        version,
      });
    }
  }

  candidates.sort((a, b) => a.rank - b.rank || compareParsed(a.version, b.version));
  const deletions = candidates.slice(0, policy.maxDeletionsPerRun).map((c) => c.entry);
  for (const c of candidates.slice(policy.maxDeletionsPerRun)) {
    kept.push({
      version: c.entry.version,
      code: "budget-exhausted",
      reason: `eligible (${c.entry.reason}) but maxDeletionsPerRun (${policy.maxDeletionsPerRun}) is reached`,
    });
  }
  const order = new Map(parsed.map((p, i) => [p.snapshot.name, i]));
  kept.sort((a, b) => (order.get(a.version) ?? 0) - (order.get(b.version) ?? 0));
  const inUsePastEndOfLife = parsed.flatMap(({ snapshot: v }) => {
    const usage = usageOf(v.name);
    return v.endOfLifeDate && v.endOfLifeDate.getTime() <= now.getTime() && isInUse(usage)
      ? [{ version: v.name, endOfLifeDate: v.endOfLifeDate, usage }]
      : [];
  });
  return latest === undefined
    ? { deletions, kept, inUsePastEndOfLife }
    : { deletions, kept, latest, inUsePastEndOfLife };
}
