import type { CatalogImage } from "../catalog/schema.js";
import { managedByValue, tagNames } from "../domain/names.js";
import { normalizeRegion } from "../domain/replication.js";
import { planRetention } from "../domain/retention.js";
import { compareVersions, parseVersion } from "../domain/versions.js";
import type { TemplateSummary, VersionDetails, VersionSummary } from "../ports.js";
import { definitionRefOf, terminalRunStates, type PipelineDeps } from "./context.js";
import type {
  Dashboard,
  DashboardBuild,
  DashboardCell,
  DashboardFailure,
  DashboardImage,
  DashboardRegion,
  DashboardSummary,
  DashboardVersion,
} from "./dashboardModel.js";
import { readFailures } from "../domain/failures.js";
import { latestVersionOf } from "../domain/latest.js";
import { pendingRolloutTargets } from "../domain/rollout.js";
import { toSnapshot } from "./pruneVersions.js";
import { machinesOf } from "../domain/usage.js";
import { readFleet, usageOfImage, viewFleetMaxAgeInMs, type FleetRead } from "./usage.js";

export type * from "./dashboardModel.js";

/** Options of {@link getDashboard}. */
export interface DashboardOptions {
  /** Reported to the page as how often to ask again. */
  refreshAfterInSeconds: number;
  /** Images read at once; ARM requests are paced below the subscription's limits whatever this is. */
  concurrency?: number;
}

/** Provisioning states of a version whose replication is still under way. */
const replicatingProvisioningStates = new Set(["Creating", "Updating"]);

const managed = (tags: Record<string, string>) => tags[tagNames.managedBy] === managedByValue;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Reads the dashboard's model from Azure: per image its versions × regions (replication, replicas, which version
 * `latest` resolves to in each region), the retention plan of the next prune run, builds in flight and recent
 * failures. ARM reads: the template list once, then per image its definition and one version list, and one GET per
 * version still replicating (the only reads that carry per-region status), and one Resource Graph sweep for where
 * every version runs. A failed read marks its image (or, for the template list, the builds; for the fleet, the usage
 * columns) and the rest is still read.
 */
export async function getDashboard(deps: PipelineDeps, options: DashboardOptions): Promise<Dashboard> {
  const { imageBuilder, settings, log } = deps;
  const now = deps.clock.now();
  const warnings: string[] = [];
  let templates: TemplateSummary[] | undefined;
  try {
    templates = await imageBuilder.listTemplates(settings.subscriptionId, settings.imageBuilderResourceGroup);
  } catch (error) {
    log.warn("dashboard: could not list image templates", { error: messageOf(error) });
    warnings.push(`Builds in flight are unknown: the image templates could not be listed (${messageOf(error)}).`);
  }

  const fleet = await readFleet(deps, { maxAgeInMs: viewFleetMaxAgeInMs });
  if (!fleet.readable) warnings.push(`Where the versions run is unknown: ${fleet.reason}.`);

  const catalogImages = deps.catalog.images;
  const images: DashboardImage[] = new Array<DashboardImage>(catalogImages.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < catalogImages.length; i = next++) {
      const image = catalogImages[i]!;
      try {
        images[i] = await readImage(deps, image, templates, now, fleet);
      } catch (error) {
        log.warn("dashboard: could not read image", { image: image.name, error: messageOf(error) });
        images[i] = unreadableImage(deps, image, messageOf(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  return {
    readAt: now.toISOString(),
    refreshAfterInSeconds: options.refreshAfterInSeconds,
    summary: summarize(images, now),
    images,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

function catalogRegions(image: CatalogImage): DashboardRegion[] {
  return image.distribution.targetRegions.map((r) => ({ name: r.name, target: true }));
}

function retentionPolicyOf(deps: PipelineDeps, image: CatalogImage) {
  const { endOfLifeDays, keepLatest, minAgeDays, maxDeletionsPerRun, dryRun } = image.retention;
  return {
    dryRun: deps.settings.pruneDryRun || dryRun,
    endOfLifeDays,
    keepLatest,
    minAgeDays,
    maxDeletionsPerRun,
  };
}

function unreadableImage(deps: PipelineDeps, image: CatalogImage, error: string): DashboardImage {
  const ref = definitionRefOf(image, deps.settings);
  return {
    image: image.name,
    ...(image.definition.description ? { description: image.definition.description } : {}),
    osType: image.definition.osType,
    gallery: ref.gallery,
    definition: ref.definition,
    exists: false,
    regions: catalogRegions(image),
    versions: [],
    retention: { ...retentionPolicyOf(deps, image), deletions: [] },
    builds: [],
    failures: [],
    error,
  };
}

async function readImage(
  deps: PipelineDeps,
  image: CatalogImage,
  templates: TemplateSummary[] | undefined,
  now: Date,
  fleet: FleetRead,
): Promise<DashboardImage> {
  const { gallery } = deps;
  const ref = definitionRefOf(image, deps.settings);
  const definition = await gallery.getImageDefinition(ref);
  const summaries = definition ? await gallery.listVersions(ref) : [];
  const versions: (VersionSummary | VersionDetails)[] = [];
  for (const v of [...summaries].sort(newestFirst)) {
    const replicating =
      v.tags[tagNames.state] === "replicating" || replicatingProvisioningStates.has(v.provisioningState ?? "");
    versions.push((replicating ? await gallery.getVersion(ref, v.name) : undefined) ?? v);
  }

  const regions = regionColumns(image, versions);
  const cellsOf = (v: VersionSummary | VersionDetails) => regions.map((r) => cellOf(v, r.name));
  const cells = new Map(versions.map((v) => [v.name, cellsOf(v)]));
  const rolloutTargets = pendingRolloutTargets(image, versions);
  regions.forEach((region, column) => {
    const rolloutTarget = rolloutTargets.get(normalizeRegion(region.name));
    if (rolloutTarget) region.rolloutTarget = rolloutTarget;
    const latest = latestVersionOf(versions, region.name);
    if (latest && cells.get(latest.name)![column]) {
      region.latest = latest.name;
      cells.get(latest.name)![column]!.latest = true;
    }
  });

  const usage = usageOfImage(fleet, image, deps);
  const plan = planRetention({ versions: summaries.map(toSnapshot), policy: image.retention, now, usage });
  const instancesOf = (version: string) => (usage.readable ? machinesOf(usage.byVersion.get(version)) : undefined);
  const planned = new Map<string, DashboardVersion["retention"]>([
    ...plan.deletions.map((d) => [d.version, { action: "delete" as const, code: d.code, reason: d.reason }] as const),
    ...plan.kept.map((k) => [k.version, { action: "keep" as const, code: k.code, reason: k.reason }] as const),
  ]);

  const rows: DashboardVersion[] = versions.map((v) => ({
    name: v.name,
    state: v.tags[tagNames.state] ?? (managed(v.tags) ? "unknown" : "unmanaged"),
    ...optional("provisioningState", v.provisioningState),
    ...optional("buildId", v.tags[tagNames.buildId]),
    ...optional("commit", v.tags[tagNames.commit]),
    ...optional("ref", v.tags[tagNames.ref]),
    ...optional("requestedBy", v.tags[tagNames.requestedBy]),
    ...optional("publishedDate", v.publishedDate?.toISOString()),
    ...optional("endOfLifeDate", v.endOfLifeDate?.toISOString()),
    excludeFromLatest: v.excludeFromLatest,
    cells: cells.get(v.name)!,
    retention: planned.get(v.name) ?? { action: "keep", code: "unknown", reason: "not in the retention plan" },
    ...optional("instances", instancesOf(v.name)),
  }));

  const traceOf = (buildId: string) =>
    optional("traceUrl", deps.settings.traceUrlTemplate?.replace("{buildId}", encodeURIComponent(buildId)));
  const published = new Map(versions.map((v) => [v.tags[tagNames.buildId], v]));
  const recorded = definition ? readFailures(definition.tags) : [];
  const failures: DashboardFailure[] = recorded.map((f) => ({
    buildId: f.buildId,
    at: f.at,
    reason: f.reason,
    ...optional("version", published.get(f.buildId)?.name),
    ...optional("logUri", f.logUri),
    ...traceOf(f.buildId),
  }));
  const builds: DashboardBuild[] = [];
  for (const t of templates ?? []) {
    const buildId = t.tags[tagNames.buildId];
    if (!managed(t.tags) || t.tags[tagNames.image] !== image.name || !buildId || published.has(buildId)) continue;
    const run = t.lastRunStatus;
    const runState = run?.runState ?? "NotStarted";
    const ended = t.provisioningState === "Failed" || runState === "Failed" || runState === "Canceled";
    if (ended) {
      // A failed build whose template is kept (for its log) is a failure, not a build in flight.
      if (!failures.some((f) => f.buildId === buildId)) {
        failures.push({
          buildId,
          at: (run?.endTime ?? run?.startTime)?.toISOString() ?? "",
          reason:
            t.provisioningState === "Failed"
              ? `template provisioning failed: ${t.provisioningErrorMessage ?? "no message"}`
              : `Image Builder run ${runState}${run?.message ? `: ${run.message}` : ""}`,
          ...optional("version", t.tags[tagNames.version]),
          ...traceOf(buildId),
        });
      }
      continue;
    }
    builds.push({
      buildId,
      ...optional("version", t.tags[tagNames.version]),
      ...optional("commit", t.tags[tagNames.commit]),
      stage: terminalRunStates.has(runState) ? "publishing" : "building",
      runState,
      ...optional("runSubState", run?.runSubState),
      ...optional("message", run?.message),
      ...optional("startTime", run?.startTime?.toISOString()),
      ...traceOf(buildId),
    });
  }
  for (const row of rows.filter((r) => r.state === "replicating")) {
    const targeted = row.cells.filter((c) => c !== null);
    const progress = targeted.reduce((sum, c) => sum + (c.state === "Completed" ? 100 : (c.progress ?? 0)), 0);
    builds.push({
      buildId: row.buildId ?? row.name,
      version: row.name,
      ...optional("commit", row.commit),
      stage: "replicating",
      progress: targeted.length > 0 ? Math.round(progress / targeted.length) : 0,
      ...(row.buildId ? traceOf(row.buildId) : {}),
    });
  }
  failures.sort((a, b) => b.at.localeCompare(a.at));

  const latest = latestVersionOf(summaries)?.name;
  return {
    image: image.name,
    ...optional("description", image.definition.description),
    osType: image.definition.osType,
    gallery: ref.gallery,
    definition: ref.definition,
    exists: definition !== undefined,
    regions,
    ...optional("latest", latest),
    versions: rows,
    retention: {
      ...retentionPolicyOf(deps, image),
      deletions: plan.deletions.map(({ version, code, reason }) => ({ version, code, reason })),
    },
    builds,
    failures,
    ...(fleet.readable
      ? {
          usage: {
            instances: rows.reduce((n, r) => n + (r.instances ?? 0), 0),
            readAt: fleet.fleet.readAt.toISOString(),
          },
        }
      : {}),
  };
}

/** Highest Major.Minor.Patch first; any other name (Azure refuses them) after the versions, by name. */
function newestFirst(a: { name: string }, b: { name: string }): number {
  const [va, vb] = [parseVersion(a.name), parseVersion(b.name)];
  if (va && vb) return compareVersions(vb, va);
  if (va || vb) return va ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A key and its value, or nothing: keeps absent facts out of the JSON. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The catalog's target regions first (its spelling), then regions only older versions target (Azure's spelling). */
function regionColumns(image: CatalogImage, versions: readonly VersionSummary[]): DashboardRegion[] {
  const regions = catalogRegions(image);
  const seen = new Set(regions.map((r) => normalizeRegion(r.name)));
  for (const v of versions) {
    for (const t of v.targetRegions) {
      const key = normalizeRegion(t.name);
      if (!seen.has(key)) {
        seen.add(key);
        regions.push({ name: t.name, target: false });
      }
    }
  }
  return regions;
}

function cellOf(v: VersionSummary | VersionDetails, region: string): DashboardCell | null {
  const key = normalizeRegion(region);
  const target = v.targetRegions.find((t) => normalizeRegion(t.name) === key);
  if (!target) return null;
  const status = "replication" in v ? v.replication?.summary.find((s) => normalizeRegion(s.region) === key) : undefined;
  const inferred = v.provisioningState === "Succeeded" ? "Completed" : undefined;
  return {
    ...(status
      ? { state: status.state, observed: true, ...optional("progress", status.progress) }
      : optional("state", inferred)),
    ...optional("details", status?.details || undefined),
    ...optional("replicaCount", target.regionalReplicaCount),
    ...(v.excludeFromLatest || target.excludeFromLatest === true ? { excludedFromLatest: true } : {}),
  };
}

function summarize(images: readonly DashboardImage[], now: Date): DashboardSummary {
  const versionsByState: Record<string, number> = {};
  let versions = 0;
  let pastEndOfLife = 0;
  let instances: number | undefined;
  for (const image of images) {
    for (const v of image.versions) {
      versions++;
      versionsByState[v.state] = (versionsByState[v.state] ?? 0) + 1;
      if (v.endOfLifeDate && Date.parse(v.endOfLifeDate) <= now.getTime()) pastEndOfLife++;
    }
    if (image.usage) instances = (instances ?? 0) + image.usage.instances;
  }
  return {
    images: images.length,
    imagesUnreadable: images.filter((i) => i.error !== undefined).length,
    versions,
    versionsByState,
    buildsInFlight: images.reduce((n, i) => n + i.builds.length, 0),
    recentFailures: images.reduce((n, i) => n + i.failures.length, 0),
    pendingDeletions: images.reduce((n, i) => n + i.retention.deletions.length, 0),
    regionsWithoutLatest: images
      .filter((i) => i.exists)
      .reduce((n, i) => n + i.regions.filter((r) => r.target && r.latest === undefined).length, 0),
    pastEndOfLife,
    ...optional("instances", instances),
  };
}
