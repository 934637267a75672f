import type { CatalogShrinkPolicy } from "../catalog/schema.js";
import { normalizeRegion } from "./gallery.js";
import type { TargetRegionSpec } from "./imageVersion.js";
import { latestVersionOf } from "./latest.js";
import { managedByValue, tagNames } from "./names.js";
import { isHealthy } from "./retention.js";
import type { HeldRegion } from "./rollout.js";
import { compareVersions, parseVersion } from "./versions.js";

/*
 * Replicas are what a gallery costs: each is billed as a snapshot of the image's occupied size, in each region
 * (azure-compute-gallery.md, "Billing"). Compute Gallery's own docs suggest keeping the latest version in many regions
 * and older ones in one region only ("Replication"). Replica counts and target regions are the updatable properties
 * of a version ("Updating resources"); a changed count replicates again (local/arm/README.md, V20).
 */

/** What the shrink plan needs of a version (as a version list reports it). */
export interface ShrinkCandidate {
  name: string;
  /** The version's own region (its definition's): it can never leave it. */
  location?: string;
  provisioningState?: string;
  publishedDate?: Date;
  endOfLifeDate?: Date;
  excludeFromLatest: boolean;
  tags: Readonly<Record<string, string>>;
  targetRegions: readonly HeldRegion[];
}

/** One version's new target regions, and why. */
export interface ShrinkChange {
  version: string;
  targetRegions: TargetRegionSpec[];
  /** Regions the change removes (the update must allow deleting replicated regions). */
  removedRegions: string[];
  reason: string;
}

export interface ShrinkPlan {
  changes: ShrinkChange[];
  /** Every other version, with why it keeps its replicas. */
  kept: { version: string; reason: string }[];
}

/**
 * Plans fewer replicas for superseded versions: once `afterNewerVersions` newer healthy versions exist, each region a
 * version keeps gets at most `regionalReplicaCount` replicas (never more than it has), and with `keepRegions: home`
 * it keeps only its own region. Never changed: a version `latest` resolves to in any region (or without one), a
 * version in use (`inUse`, when usage is known), one whose rollout is still going, one Azure is still changing, one
 * that is not a promoted version of the pipeline's. Pure: planning again after the change plans nothing for it.
 */
export function planShrink(input: {
  versions: readonly ShrinkCandidate[];
  policy: CatalogShrinkPolicy;
  /** The definition's region, for versions that do not report their own. */
  homeRegion: string;
  /** Where versions run, by version name ("3 VMs in westeurope"); absent when usage is not known. */
  inUse?: ReadonlyMap<string, string>;
  /** What a region that reports no replica count or storage type holds. */
  defaults: { replicaCount: number; storageAccountType: TargetRegionSpec["storageAccountType"] };
}): ShrinkPlan {
  const { versions, policy } = input;
  const regions = [...new Map(versions.flatMap((v) => v.targetRegions).map((r) => [normalizeRegion(r.name), r.name]))];
  const latestWhere = new Map<string, string[]>();
  const markLatest = (name: string | undefined, where: string) => {
    if (name !== undefined) latestWhere.set(name, [...(latestWhere.get(name) ?? []), where]);
  };
  markLatest(latestVersionOf(versions)?.name, "without a region");
  for (const [, region] of regions) markLatest(latestVersionOf(versions, region)?.name, region);
  const healthy = versions.filter((v) => parseVersion(v.name) && isHealthy(v));

  const changes: ShrinkChange[] = [];
  const kept: ShrinkPlan["kept"] = [];
  for (const v of [...versions].sort((a, b) => compareVersions(b.name, a.name))) {
    const keep = (reason: string) => kept.push({ version: v.name, reason });
    const newer = healthy.filter((h) => compareVersions(h.name, v.name) > 0).map((h) => h.name);
    if (!parseVersion(v.name)) keep("name is not Major.Minor.Patch");
    else if (v.tags[tagNames.managedBy] !== managedByValue) keep("not created by image-pipeline");
    else if (latestWhere.has(v.name)) keep(`latest resolves to it (${latestWhere.get(v.name)!.join(", ")})`);
    else if (input.inUse?.has(v.name)) keep(`in use: ${input.inUse.get(v.name)}`);
    else if (v.tags[tagNames.rollout] === "rolling") keep("its progressive rollout is still going");
    else if (v.provisioningState !== "Succeeded")
      keep(`Azure is still changing it (${v.provisioningState ?? "unknown"})`);
    else if (v.tags[tagNames.state] !== "promoted")
      keep(`not a promoted version (${v.tags[tagNames.state] ?? "no state"})`);
    else if (newer.length < policy.afterNewerVersions) {
      keep(
        `${newer.length} newer healthy version${newer.length === 1 ? "" : "s"}, shrinks after ${policy.afterNewerVersions}`,
      );
    } else {
      const change = shrunk(v, input, policy);
      if (change.targetRegions.length === 0) keep("its own region is not among its target regions: left as it is");
      else if (change.steps.length === 0) keep("already shrunk");
      else {
        const by = newer.sort(compareVersions).slice(-3).join(", ");
        changes.push({
          version: v.name,
          targetRegions: change.targetRegions,
          removedRegions: change.removedRegions,
          reason: `superseded by ${newer.length} newer healthy version${newer.length === 1 ? "" : "s"} (${newer.length > 3 ? "… " : ""}${by}): ${change.steps.join("; ")}`,
        });
      }
    }
  }
  return { changes, kept };
}

function shrunk(
  v: ShrinkCandidate,
  input: {
    homeRegion: string;
    defaults: { replicaCount: number; storageAccountType: TargetRegionSpec["storageAccountType"] };
  },
  policy: CatalogShrinkPolicy,
): { targetRegions: TargetRegionSpec[]; removedRegions: string[]; steps: string[] } {
  const home = normalizeRegion(v.location ?? input.homeRegion);
  const steps: string[] = [];
  const removedRegions: string[] = [];
  const targetRegions: TargetRegionSpec[] = [];
  for (const r of v.targetRegions) {
    if (policy.keepRegions === "home" && normalizeRegion(r.name) !== home) {
      removedRegions.push(r.name);
      steps.push(`${r.name} removed (keepRegions: home)`);
      continue;
    }
    const held = r.regionalReplicaCount ?? input.defaults.replicaCount;
    const count = Math.min(held, policy.regionalReplicaCount);
    if (count < held) steps.push(`${r.name} ${held} → ${count} replicas`);
    const target: TargetRegionSpec = {
      name: r.name,
      regionalReplicaCount: count,
      storageAccountType:
        (r.storageAccountType as TargetRegionSpec["storageAccountType"] | undefined) ??
        input.defaults.storageAccountType,
    };
    if (r.excludeFromLatest !== undefined) target.excludeFromLatest = r.excludeFromLatest;
    targetRegions.push(target);
  }
  return { targetRegions, removedRegions, steps };
}
