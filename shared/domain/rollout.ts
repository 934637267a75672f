import type { CatalogImage, CatalogRollout } from "../catalog/schema.js";
import { normalizeRegion } from "./gallery.js";
import type { TargetRegionSpec } from "./imageVersion.js";
import { tagNames, truncateTagValue } from "./names.js";
import { compareVersions } from "./versions.js";

/*
 * Progressive rollout of a promoted version: `latest` reaches the catalog's waves of target regions one after the
 * other. Compute Gallery resolves `latest` per region, and a region's own `excludeFromLatest` overrides the
 * version's (azure-compute-gallery.md, "Best practices"; local/arm/README.md V18), so the rollout state lives in
 * Azure itself:
 * - the version's own `excludeFromLatest` stays false from promotion on; each region a later wave holds carries
 *   `excludeFromLatest: true` until its wave comes, then loses the flag (the version's applies again);
 * - tags record how many waves it reached and when (the soak's start), failed health checks and why it stopped.
 * A version is rolled back when an operator excludes it from `latest` (its own flag true, as the README's "Roll back
 * latest" does and `image-pipeline rollback` does) or marks it `rolledBack`: its rollout stops there.
 */

/** Lifecycle of a rollout, as recorded in the version's {@link tagNames.rollout} tag. */
export const rolloutStates = ["rolling", "complete", "stopped", "halted"] as const;
export type RolloutState = (typeof rolloutStates)[number];

/** What the version's tags say of its rollout. */
export interface RolloutRecord {
  state: RolloutState;
  /** Waves `latest` has reached, 1-based. */
  wave: number;
  /** When that wave was reached: its soak starts then. */
  waveAt?: Date;
  gateFailures: number;
  note?: string;
}

/** What deciding a rollout needs of a version (as a version list reports it). */
export interface RollingVersion {
  name: string;
  excludeFromLatest: boolean;
  provisioningState?: string;
  tags: Readonly<Record<string, string>>;
  targetRegions: readonly HeldRegion[];
}

/** A target region as a version reports it (what it holds, which may differ from what the catalog asks today). */
export interface HeldRegion {
  name: string;
  regionalReplicaCount?: number;
  storageAccountType?: string;
  excludeFromLatest?: boolean;
}

/** Reads a version's rollout tags; undefined when it never rolled out in waves. */
export function readRollout(tags: Readonly<Record<string, string>>): RolloutRecord | undefined {
  const state = tags[tagNames.rollout];
  if (!rolloutStates.includes(state as RolloutState)) return undefined;
  const waveAt = new Date(tags[tagNames.rolloutWaveAt] ?? "");
  const record: RolloutRecord = {
    state: state as RolloutState,
    wave: Math.max(1, Number.parseInt(tags[tagNames.rolloutWave] ?? "1", 10) || 1),
    gateFailures: Math.max(0, Number.parseInt(tags[tagNames.rolloutGateFailures] ?? "0", 10) || 0),
  };
  if (!Number.isNaN(waveAt.getTime())) record.waveAt = waveAt;
  const note = tags[tagNames.rolloutNote];
  if (note) record.note = note;
  return record;
}

/** The tags that record `record` (a note left out is removed). */
export function rolloutTags(tags: Readonly<Record<string, string>>, record: RolloutRecord): Record<string, string> {
  const next: Record<string, string> = {
    ...tags,
    [tagNames.rollout]: record.state,
    [tagNames.rolloutWave]: String(record.wave),
    [tagNames.rolloutGateFailures]: String(record.gateFailures),
  };
  if (record.waveAt) next[tagNames.rolloutWaveAt] = record.waveAt.toISOString();
  if (record.note) next[tagNames.rolloutNote] = truncateTagValue(record.note);
  else delete next[tagNames.rolloutNote];
  return next;
}

/** Minutes wave `wave` (1-based) soaks before the next one moves. */
export function soakInMinutesOf(rollout: CatalogRollout, wave: number): number {
  return rollout.waves[wave - 1]?.soakInMinutes ?? rollout.soakInMinutes;
}

/**
 * The target regions of a version being promoted into a rollout's first wave: every region of a later wave carries
 * `excludeFromLatest: true` (the version's own flag goes false with it, in the same update).
 */
export function firstWaveRegions(rollout: CatalogRollout, regions: readonly TargetRegionSpec[]): TargetRegionSpec[] {
  const later = new Set(rollout.waves.slice(1).flatMap((w) => w.regions.map(normalizeRegion)));
  return regions.map((r) => (later.has(normalizeRegion(r.name)) ? { ...r, excludeFromLatest: true } : { ...r }));
}

/** The tags of a version promoted into the first wave of its rollout at `now`. */
export function firstWaveTags(tags: Readonly<Record<string, string>>, now: Date): Record<string, string> {
  return rolloutTags(tags, { state: "rolling", wave: 1, waveAt: now, gateFailures: 0 });
}

/**
 * The regions a version holds, as it holds them (replica count, storage type and its own `excludeFromLatest`): a
 * rollout step changes one flag and nothing else.
 */
export function heldRegions(image: CatalogImage, version: RollingVersion): TargetRegionSpec[] {
  return version.targetRegions.map((r) => heldRegion(image, r));
}

/** One region as the version holds it; what the version does not say is the catalog's default. */
export function heldRegion(image: CatalogImage, region: HeldRegion): TargetRegionSpec {
  const held: TargetRegionSpec = {
    name: region.name,
    regionalReplicaCount: region.regionalReplicaCount ?? image.distribution.replicaCount,
    storageAccountType:
      (region.storageAccountType as TargetRegionSpec["storageAccountType"] | undefined) ??
      image.distribution.storageAccountType,
  };
  if (region.excludeFromLatest !== undefined) held.excludeFromLatest = region.excludeFromLatest;
  return held;
}

/**
 * The held regions with `latest` let into `regions` (their own exclusion removed, so the version's flag applies);
 * every other region as held.
 */
export function includeRegions(held: readonly TargetRegionSpec[], regions: readonly string[]): TargetRegionSpec[] {
  const wanted = new Set(regions.map(normalizeRegion));
  return held.map((r) => {
    if (!wanted.has(normalizeRegion(r.name))) return { ...r };
    const { excludeFromLatest: _dropped, ...included } = r;
    return included;
  });
}

/** What the monitor does with a version's rollout now. */
export type RolloutDecision =
  /** Not rolling out (never did, or its rollout ended). */
  | { action: "none" }
  /** Rolled back during its rollout: no further wave; record why. */
  | { action: "stop"; reason: string }
  /** Its current wave is soaking (or Azure is still applying the last step). */
  | { action: "wait"; wave: number; waves: number; nextWaveAt?: Date; reason: string }
  /** The soak is over: ask the health endpoint before wave `nextWave`. */
  | { action: "checkHealth"; nextWave: number; regions: string[] }
  /** Let `latest` into wave `nextWave`'s regions; `complete` when it is the last. */
  | { action: "advance"; nextWave: number; regions: string[]; complete: boolean };

/** Whether an operator took the version out of `latest` (see the module comment: that stops its rollout). */
export function isRolledBack(version: Pick<RollingVersion, "excludeFromLatest" | "tags">): boolean {
  return version.excludeFromLatest || version.tags[tagNames.state] === "rolledBack";
}

/**
 * Decides the next step of a version's rollout from what Azure holds. A rollback wins over everything; a step waits
 * while Azure applies the previous one (provisioning not `Succeeded`); the next wave moves once the current one has
 * soaked for its `soakInMinutes` (and, with a health check, once the endpoint answered 2xx). When the catalog no
 * longer declares waves, the regions still held back get `latest` at once (the catalog decides); when it changed
 * them, the new waves apply from the next one on.
 */
export function decideRollout(input: {
  rollout: CatalogRollout | undefined;
  /** Regions the catalog itself keeps out of `latest` (never let in). */
  excludedByCatalog: readonly string[];
  version: RollingVersion;
  now: Date;
}): RolloutDecision {
  const { rollout, version, now } = input;
  const record = readRollout(version.tags);
  if (!record || record.state !== "rolling") return { action: "none" };
  if (isRolledBack(version)) {
    return {
      action: "stop",
      reason: `rolled back during wave ${record.wave}: the version was taken out of latest, so no further wave moves`,
    };
  }
  if (version.provisioningState !== "Succeeded") {
    return {
      action: "wait",
      wave: record.wave,
      waves: rollout?.waves.length ?? record.wave,
      reason: `the last change is still being applied (provisioningState ${version.provisioningState ?? "unknown"})`,
    };
  }
  if (!rollout) {
    const excluded = new Set(input.excludedByCatalog.map(normalizeRegion));
    const regions = version.targetRegions
      .filter((r) => r.excludeFromLatest === true && !excluded.has(normalizeRegion(r.name)))
      .map((r) => r.name);
    return { action: "advance", nextWave: record.wave + 1, regions, complete: true };
  }
  const waves = rollout.waves.length;
  if (record.wave >= waves) {
    return { action: "advance", nextWave: waves, regions: rollout.waves[waves - 1]!.regions, complete: true };
  }
  const soakInMs = soakInMinutesOf(rollout, record.wave) * 60_000;
  const nextWaveAt = record.waveAt ? new Date(record.waveAt.getTime() + soakInMs) : undefined;
  if (nextWaveAt && now.getTime() < nextWaveAt.getTime()) {
    return { action: "wait", wave: record.wave, waves, nextWaveAt, reason: `wave ${record.wave} is soaking` };
  }
  const nextWave = record.wave + 1;
  const held = new Set(version.targetRegions.map((r) => normalizeRegion(r.name)));
  const regions = (rollout.waves[nextWave - 1]?.regions ?? []).filter((r) => held.has(normalizeRegion(r)));
  if (rollout.healthCheck) return { action: "checkHealth", nextWave, regions };
  return { action: "advance", nextWave, regions, complete: nextWave === waves };
}

/** What status shows of a version's rollout. */
export interface RolloutStatus {
  version: string;
  state: RolloutState;
  wave: number;
  waves?: number;
  /** When the next wave moves, for a rollout still rolling (a health check may still hold it then). */
  nextWaveAt?: string;
  /** The regions the next wave brings `latest` to. */
  nextRegions?: string[];
  note?: string;
}

/** A version's rollout as status shows it; undefined when it never rolled out in waves. */
export function rolloutStatusOf(image: CatalogImage, version: RollingVersion): RolloutStatus | undefined {
  const record = readRollout(version.tags);
  if (!record) return undefined;
  const rollout = image.distribution.rollout;
  const rolledBack = record.state === "rolling" && isRolledBack(version);
  const status: RolloutStatus = {
    version: version.name,
    state: rolledBack ? "stopped" : record.state,
    wave: record.wave,
  };
  if (rollout) status.waves = rollout.waves.length;
  if (rolledBack) status.note = "rolled back: no further wave moves";
  else if (record.note) status.note = record.note;
  if (record.state === "rolling" && !rolledBack && rollout && record.wave < rollout.waves.length) {
    if (record.waveAt) {
      const soakInMs = soakInMinutesOf(rollout, record.wave) * 60_000;
      status.nextWaveAt = new Date(record.waveAt.getTime() + soakInMs).toISOString();
    }
    status.nextRegions = rollout.waves[record.wave]!.regions;
  }
  return status;
}

/**
 * For each region a rollout has yet to reach (normalized name), the version meant to get `latest` there next: the
 * highest version still rolling (not rolled back) whose later waves hold the region.
 */
export function pendingRolloutTargets(image: CatalogImage, versions: readonly RollingVersion[]): Map<string, string> {
  const targets = new Map<string, string>();
  const rollout = image.distribution.rollout;
  if (!rollout) return targets;
  const rolling = versions
    .filter((v) => readRollout(v.tags)?.state === "rolling" && !isRolledBack(v))
    .sort((a, b) => compareVersions(b.name, a.name));
  for (const version of rolling) {
    const reached = readRollout(version.tags)!.wave;
    for (const wave of rollout.waves.slice(reached)) {
      for (const region of wave.regions) {
        const key = normalizeRegion(region);
        if (!targets.has(key)) targets.set(key, version.name);
      }
    }
  }
  return targets;
}
