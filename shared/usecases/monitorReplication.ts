import type { CatalogImage } from "../catalog/schema.js";
import { managedByValue, tagNames } from "../domain/names.js";
import { decideReplication } from "../domain/replication.js";
import type { TemplateSummary, VersionSummary } from "../ports.js";
import { definitionRefOf, terminalRunStates, type PipelineDeps } from "./context.js";
import { cleanUpBuild, failBuild } from "./failure.js";

/** What one monitor sweep did. */
export interface MonitorResult {
  /** Versions still replicating whose status was read. */
  checked: number;
  promoted: string[];
  retried: string[];
  failed: string[];
  /** Templates and staging images removed because their build had ended. */
  swept: string[];
}

const isManaged = (tags: Record<string, string>) => tags[tagNames.managedBy] === managedByValue;
const label = (image: CatalogImage, version: string) => `${image.name}@${version}`;

/**
 * One replication sweep: reads the status of the versions the pipeline published that are still replicating (one
 * list per image, one GET per version in flight: cost follows the work, not the gallery's size), promotes those that
 * every target region has, retries failed regions a bounded number of times, and marks the rest failed (never
 * `latest`). Then removes the templates and staging images of builds that have ended.
 */
export async function monitorReplication(deps: PipelineDeps): Promise<MonitorResult> {
  const { gallery, settings, clock, log } = deps;
  const result: MonitorResult = { checked: 0, promoted: [], retried: [], failed: [], swept: [] };
  const versionsByImage = new Map<string, VersionSummary[]>();

  for (const image of deps.catalog.images) {
    const ref = definitionRefOf(image, settings);
    const versions = await gallery.listVersions(ref);
    versionsByImage.set(image.name, versions);
    for (const summary of versions) {
      if (!isManaged(summary.tags) || summary.tags[tagNames.state] !== "replicating") continue;
      const version = await gallery.getVersion(ref, summary.name);
      if (!version) continue;
      result.checked++;
      const retriesSoFar = Number(version.tags[tagNames.replicationRetries] ?? "0") || 0;
      const decision = decideReplication({
        provisioningState: version.provisioningState ?? "Unknown",
        replicationStatus: version.replication,
        targetRegions: version.targetRegions.map((r) => r.name),
        retriesSoFar,
        maxRetries: settings.replicationMaxRetries,
        startedAt: version.publishedDate,
        now: clock.now(),
        timeoutInMs: settings.replicationTimeoutInMinutes * 60_000,
      });
      const fields = { image: image.name, version: version.name, buildId: version.tags[tagNames.buildId] };
      const build = {
        buildId: version.tags[tagNames.buildId] ?? "unknown",
        templateName: version.tags[tagNames.templateName],
        stagingImageId: version.tags[tagNames.stagingImageId],
      };
      switch (decision.action) {
        case "wait":
          log.info("version still replicating", { ...fields, progress: decision.progress });
          break;
        case "promote":
          await gallery.updateVersion(
            ref,
            version.name,
            {
              publishingProfile: { excludeFromLatest: false, targetRegions: version.targetRegions },
              tags: { ...version.tags, [tagNames.state]: "promoted" },
            },
            { wait: true },
          );
          log.info("every target region has the version: promoted to latest", fields);
          result.promoted.push(label(image, version.name));
          // The sweep below removes its template and staging image, from the lists it reads anyway.
          summary.tags = { ...summary.tags, [tagNames.state]: "promoted" };
          break;
        case "retry":
          log.warn("replication failed in some regions: retrying them", {
            ...fields,
            regions: decision.regions,
            retry: retriesSoFar + 1,
            maxRetries: settings.replicationMaxRetries,
          });
          await gallery.updateVersion(
            ref,
            version.name,
            {
              publishingProfile: { targetRegions: version.targetRegions },
              tags: { ...version.tags, [tagNames.replicationRetries]: String(retriesSoFar + 1) },
            },
            { wait: false },
          );
          result.retried.push(label(image, version.name));
          break;
        case "fail":
          await gallery.updateVersion(
            ref,
            version.name,
            { tags: { ...version.tags, [tagNames.state]: "failed" } },
            { wait: true },
          );
          await failBuild(deps, image, build, `replication failed: ${decision.reason}`);
          result.failed.push(label(image, version.name));
          break;
      }
    }
  }

  result.swept = await sweepLeftovers(deps, versionsByImage);
  return result;
}

/** A template whose build produced nothing for this long is abandoned (its messages were lost or dead-lettered). */
const abandonedAfterInMs = 6 * 60 * 60_000;

/**
 * Removes templates and staging images of builds that ended: the version they produced was promoted or failed, the
 * run failed and nobody cleaned up, or the build was abandoned. Crash-safe cleanup does not depend on any message.
 */
async function sweepLeftovers(deps: PipelineDeps, versionsByImage: Map<string, VersionSummary[]>): Promise<string[]> {
  const { imageBuilder, gallery, settings, clock, log } = deps;
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  const swept: string[] = [];
  const now = clock.now().getTime();
  const allVersions = [...versionsByImage.values()].flat();
  const versionOfBuild = (buildId: string | undefined) =>
    buildId ? allVersions.find((v) => v.tags[tagNames.buildId] === buildId) : undefined;

  // Staging images are listed before templates: an image in this list was made by a run whose template existed
  // before it, so it is in the template list unless it really ended. The other order would let a build that
  // started and finished between the two lists lose its fresh staging image.
  const stagingImages = await gallery.listManagedImages(subscriptionId, resourceGroup);
  const templates = (await imageBuilder.listTemplates(subscriptionId, resourceGroup)).filter((t) => isManaged(t.tags));
  const liveTemplates: TemplateSummary[] = [];
  for (const template of templates) {
    const buildId = template.tags[tagNames.buildId];
    const version = versionOfBuild(buildId);
    const state = version?.tags[tagNames.state];
    const run = template.lastRunStatus;
    const endedAt = run?.endTime?.getTime();
    const createdAt = Date.parse(template.tags[tagNames.createdAt] ?? "") || undefined;
    const image = deps.catalog.images.find((i) => i.name === template.tags[tagNames.image]);
    // Why the template is a leftover, and whether its build still needs a recorded failure.
    let why: string | undefined;
    let recordFailure = false;
    const runEndedLongAgo = (ms: number) => endedAt !== undefined && now - endedAt > ms;
    if (state === "promoted" || state === "failed") why = `its version ${version?.name} is ${state}`;
    else if (!image) why = "its image is no longer in the catalog";
    else if (!version && (run?.runState === "Failed" || run?.runState === "Canceled") && runEndedLongAgo(3_600_000)) {
      why = `its run ${run.runState.toLowerCase()} over an hour ago: ${run.message ?? "no message"}`;
      recordFailure = true;
    } else if (!version && !run?.runState && createdAt && now - createdAt > abandonedAfterInMs) {
      why = "it was never run";
      recordFailure = true;
    } else if (!version && terminalRunStates.has(run?.runState ?? "") && runEndedLongAgo(abandonedAfterInMs)) {
      why = "its build ended long ago without a version";
      recordFailure = true;
    }
    if (!why) {
      liveTemplates.push(template);
      continue;
    }
    const leftovers = { templateName: template.name, stagingImageId: template.tags[tagNames.stagingImageId] };
    log.info("removing leftover template", { template: template.name, buildId, reason: why });
    if (image && recordFailure) {
      await failBuild(deps, image, { buildId: buildId ?? template.name, ...leftovers }, `build abandoned: ${why}`);
    } else {
      await cleanUpBuild(deps, leftovers);
    }
    swept.push(template.name);
  }

  // Staging images whose template is gone are leftovers unless a version still replicates from them.
  const referenced = new Set<string>();
  for (const t of liveTemplates) referenced.add((t.tags[tagNames.stagingImageId] ?? "").toLowerCase());
  for (const v of allVersions) {
    if (v.tags[tagNames.state] === "replicating") referenced.add((v.tags[tagNames.stagingImageId] ?? "").toLowerCase());
  }
  for (const staging of stagingImages) {
    if (!isManaged(staging.tags) || referenced.has(staging.id.toLowerCase())) continue;
    if (templates.some((t) => (t.tags[tagNames.stagingImageId] ?? "").toLowerCase() === staging.id.toLowerCase())) {
      // Its template was removed in this sweep, together with it.
      continue;
    }
    log.info("removing leftover staging image", { stagingImageId: staging.id });
    await gallery.deleteManagedImage(staging.id);
    swept.push(staging.name);
  }
  return swept;
}
