import type { CatalogImage } from "../catalog/schema.js";
import { customizationLogUriOf, readFailures, type RecordedFailure } from "../domain/failures.js";
import { normalizeRegion } from "../domain/gallery.js";
import { latestVersionOf } from "../domain/latest.js";
import { rolloutStatusOf, type RolloutStatus } from "../domain/rollout.js";
import { managedByValue, tagNames } from "../domain/names.js";
import { compareVersions } from "../domain/versions.js";
import type { RegionalReplication, TemplateSummary, VersionDetails } from "../ports.js";
import { definitionRefOf, type PipelineDeps } from "./context.js";
import { imageUsageOf, type FleetRead, type ImageUsage } from "./usage.js";
import type { VersionUsage } from "../domain/usage.js";

/** Stages of a build, in order; `failed` can follow any of them. */
export type BuildStage = "building" | "publishing" | "replicating" | "promoted" | "failed";

/** A build's state, read from Azure itself: the template while it builds, the version's tags after, else a recorded failure. */
export interface BuildStatus {
  buildId: string;
  image: string;
  stage: BuildStage;
  version?: string;
  commit?: string;
  /** Image Builder's run state and sub-state while building, and its outcome while its template is kept. */
  run?: {
    runState?: string;
    runSubState?: string;
    message?: string;
    startTime?: string;
    endTime?: string;
    /** Where Image Builder wrote the customization log (kept with the template). */
    logUri?: string;
  };
  /** Per-region replication while replicating (and after). */
  regions?: RegionalReplication[];
  endOfLifeDate?: string;
  failure?: RecordedFailure;
}

/** The state of one image: its versions, which one `latest` resolves to, builds in flight and recent failures. */
export interface ImageStatus {
  image: string;
  gallery: string;
  definition: string;
  exists: boolean;
  latest?: string;
  /** The version `latest` resolves to in each region (catalog targets and regions a version holds); null: none. */
  latestByRegion: Record<string, string | null>;
  /** Progressive rollouts not yet complete: the wave each is in, when the next moves, or why it stopped. */
  rollouts: RolloutStatus[];
  versions: {
    name: string;
    state: string;
    buildId?: string;
    publishedDate?: string;
    endOfLifeDate?: string;
    excludeFromLatest: boolean;
    provisioningState?: string;
    targetRegions: string[];
    regions?: RegionalReplication[];
    /** Where the version runs, when the fleet was read and anything runs it. */
    usage?: VersionUsage;
  }[];
  /** Where each version runs (one Resource Graph sweep), or why that is unknown; absent when not asked for. */
  usage?: ImageUsage;
  buildsInFlight: { buildId: string; version?: string; runState?: string; runSubState?: string }[];
  recentFailures: RecordedFailure[];
}

const managed = (tags: Record<string, string>) => tags[tagNames.managedBy] === managedByValue;

function runOf(template: TemplateSummary): BuildStatus["run"] {
  const r = template.lastRunStatus;
  return {
    runState: r?.runState ?? "NotStarted",
    runSubState: r?.runSubState,
    message: r?.message,
    startTime: r?.startTime?.toISOString(),
    endTime: r?.endTime?.toISOString(),
    logUri: customizationLogUriOf(r?.message),
  };
}

/** Finds a build by id. Undefined when Azure holds no trace of it (not started yet, or never asked for). */
export async function getBuildStatus(deps: PipelineDeps, buildId: string): Promise<BuildStatus | undefined> {
  const { gallery, imageBuilder, settings } = deps;
  const templates = await imageBuilder.listTemplates(settings.subscriptionId, settings.imageBuilderResourceGroup);
  const template = templates.find((t) => managed(t.tags) && t.tags[tagNames.buildId] === buildId);
  const images = template
    ? deps.catalog.images.filter((i) => i.name === template.tags[tagNames.image])
    : deps.catalog.images;

  for (const image of images) {
    const ref = definitionRefOf(image, settings);
    const summary = (await gallery.listVersions(ref)).find((v) => v.tags[tagNames.buildId] === buildId);
    if (summary) {
      const version = (await gallery.getVersion(ref, summary.name)) ?? summary;
      const state = version.tags[tagNames.state];
      const failure = state === "failed" ? await failureOf(deps, image, buildId) : undefined;
      return {
        buildId,
        image: image.name,
        stage:
          state === "promoted"
            ? "promoted"
            : state === "failed"
              ? "failed"
              : state === "distributing"
                ? "publishing"
                : "replicating",
        ...(template ? { run: runOf(template) } : {}),
        version: version.name,
        commit: version.tags[tagNames.commit],
        regions: (version as VersionDetails).replication?.summary,
        endOfLifeDate: version.endOfLifeDate?.toISOString(),
        failure,
      };
    }
  }
  if (template) {
    const imageName = template.tags[tagNames.image] ?? "unknown";
    const image = deps.catalog.images.find((i) => i.name === imageName);
    const runState = template.lastRunStatus?.runState;
    // A failed build's template is kept for inspection: its run says why and where the log is.
    const ended = runState === "Failed" || runState === "Canceled" || template.provisioningState === "Failed";
    const recorded = template.tags[tagNames.failedAt] && image ? await failureOf(deps, image, buildId) : undefined;
    const run = runOf(template);
    const failure: RecordedFailure | undefined =
      recorded ??
      (ended
        ? {
            buildId,
            at: run?.endTime ?? "",
            reason: `Image Builder run ${(runState ?? "provisioning").toLowerCase()}${run?.runSubState ? ` during ${run.runSubState}` : ""}: ${run?.message || template.provisioningErrorMessage || "no message"}`,
            ...(run?.logUri ? { logUri: run.logUri } : {}),
          }
        : undefined);
    return {
      buildId,
      image: imageName,
      stage: failure
        ? "failed"
        : runState === "Succeeded" || runState === "PartiallySucceeded"
          ? "publishing"
          : "building",
      version: template.tags[tagNames.version],
      commit: template.tags[tagNames.commit],
      run,
      ...(failure ? { failure } : {}),
    };
  }
  for (const image of deps.catalog.images) {
    const failure = await failureOf(deps, image, buildId);
    if (failure) return { buildId, image: image.name, stage: "failed", failure };
  }
  return undefined;
}

async function failureOf(deps: PipelineDeps, image: CatalogImage, buildId: string) {
  const definition = await deps.gallery.getImageDefinition(definitionRefOf(image, deps.settings));
  return definition ? readFailures(definition.tags).find((f) => f.buildId === buildId) : undefined;
}

/**
 * One image's status; with `withReplication`, a status read per version still replicating; with `fleet` (one sweep,
 * shared by every image of a call), where each version runs.
 */
export async function getImageStatus(
  deps: PipelineDeps,
  image: CatalogImage,
  options: { withReplication: boolean; templates?: TemplateSummary[]; fleet?: FleetRead },
): Promise<ImageStatus> {
  const { gallery, imageBuilder, settings } = deps;
  const ref = definitionRefOf(image, settings);
  const definition = await gallery.getImageDefinition(ref);
  const versions = definition ? await gallery.listVersions(ref) : [];
  const templates =
    options.templates ??
    (await imageBuilder.listTemplates(settings.subscriptionId, settings.imageBuilderResourceGroup));
  const usage = options.fleet ? imageUsageOf(options.fleet, image, deps) : undefined;
  const usageOf = new Map(usage?.versions.map(({ version, ...u }) => [version, u]));
  const rows: ImageStatus["versions"] = [];
  for (const v of [...versions].sort((a, b) => compareVersions(b.name, a.name))) {
    const state = v.tags[tagNames.state] ?? (managed(v.tags) ? "unknown" : "unmanaged");
    const detail =
      options.withReplication && state === "replicating" ? await gallery.getVersion(ref, v.name) : undefined;
    rows.push({
      name: v.name,
      state,
      buildId: v.tags[tagNames.buildId],
      publishedDate: v.publishedDate?.toISOString(),
      endOfLifeDate: v.endOfLifeDate?.toISOString(),
      excludeFromLatest: v.excludeFromLatest,
      provisioningState: v.provisioningState,
      targetRegions: v.targetRegions.map((r) => r.name),
      regions: detail?.replication?.summary,
      ...(usageOf.has(v.name) ? { usage: usageOf.get(v.name) } : {}),
    });
  }
  const publishedBuilds = new Set(versions.map((v) => v.tags[tagNames.buildId]));
  const regions = [
    ...new Map(
      [...image.distribution.targetRegions, ...versions.flatMap((v) => v.targetRegions)].map((r) => [
        normalizeRegion(r.name),
        r.name,
      ]),
    ).values(),
  ];
  return {
    image: image.name,
    gallery: ref.gallery,
    definition: ref.definition,
    exists: definition !== undefined,
    latest: latestVersionOf(versions)?.name,
    latestByRegion: Object.fromEntries(regions.map((r) => [r, latestVersionOf(versions, r)?.name ?? null])),
    rollouts: [...versions]
      .sort((a, b) => compareVersions(b.name, a.name))
      .flatMap((v) => rolloutStatusOf(image, v) ?? [])
      .filter((r) => r.state !== "complete"),
    versions: rows,
    ...(usage ? { usage } : {}),
    buildsInFlight: templates
      .filter((t) => managed(t.tags) && t.tags[tagNames.image] === image.name)
      .filter((t) => !publishedBuilds.has(t.tags[tagNames.buildId]))
      // A failed build's template is only kept as evidence: the build is no longer in flight.
      .filter((t) => !t.tags[tagNames.failedAt] && !["Failed", "Canceled"].includes(t.lastRunStatus?.runState ?? ""))
      .map((t) => ({
        buildId: t.tags[tagNames.buildId] ?? t.name,
        version: t.tags[tagNames.version],
        runState: t.lastRunStatus?.runState ?? "NotStarted",
        runSubState: t.lastRunStatus?.runSubState,
      })),
    recentFailures: definition ? readFailures(definition.tags) : [],
  };
}
