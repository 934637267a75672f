import { normalizeRegion } from "./gallery.js";
import { parseVersion, compareVersions } from "./versions.js";

/** What deciding `latest` needs of a version. */
export interface LatestCandidate {
  name: string;
  excludeFromLatest: boolean;
  targetRegions?: readonly { name: string; excludeFromLatest?: boolean }[];
}

/**
 * The version `latest` resolves to, as Compute Gallery resolves it: the highest `Major.Minor.Patch` not excluded from
 * latest. In a region, only versions that target it count, and a region's own `excludeFromLatest` (when set)
 * overrides the version's. The one definition of this rule: retention, status and the dashboard all use it.
 */
export function latestVersionOf<T extends LatestCandidate>(versions: readonly T[], region?: string): T | undefined {
  const wanted = region === undefined ? undefined : normalizeRegion(region);
  const eligible = versions.filter((v) => {
    if (!parseVersion(v.name)) return false;
    if (wanted === undefined) return !v.excludeFromLatest;
    const target = v.targetRegions?.find((r) => normalizeRegion(r.name) === wanted);
    if (!target) return false;
    return !(target.excludeFromLatest ?? v.excludeFromLatest);
  });
  return eligible.sort((a, b) => compareVersions(b.name, a.name))[0];
}
