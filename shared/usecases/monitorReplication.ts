import type { CatalogImage } from "../catalog/schema.js";
import { spanAttributes } from "../observability/spanAttributes.js";
import { homeRegionOf, normalizeRegion } from "../domain/gallery.js";
import { renderTargetRegions, targetRegionsNamed, type TargetRegionSpec } from "../domain/imageVersion.js";
import { managedByValue, tagNames, truncateTagValue } from "../domain/names.js";
import { decideReplication } from "../domain/replication.js";
import { heldRegion } from "../domain/rollout.js";
import type { ImageDefinitionRef, TemplateSummary, VersionDetails, VersionSummary } from "../ports.js";
import {
  definitionRefOf,
  forEachIsolated,
  succeededRunStates,
  terminalRunStates,
  type PipelineDeps,
} from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";
import { recordBuildFailure } from "./failure.js";
import { emitVersionPublished, expandVersion } from "./publishVersion.js";
import { advanceRollouts, promotionOf } from "./rollout.js";
import { startRun } from "./watchBuild.js";

/** What one monitor sweep did. */
export interface MonitorResult {
  /** Versions still replicating whose status was read. */
  checked: number;
  promoted: string[];
  /** Recovery steps taken for failed regions (`image@version: action regions`). */
  retried: string[];
  failed: string[];
  /** Templates removed because their build had ended (or its evidence retention passed). */
  swept: string[];
  /** Versions whose publication the sweep finished because its message was lost. */
  published: string[];
  /** Steps of progressive rollouts: waves moved, rollouts stopped by a rollback or halted by their health check. */
  rollouts: string[];
  /** What could not be done this sweep (the rest went on): image, version or template, and the error. */
  errors: { item: Record<string, unknown>; error: string }[];
}

const isManaged = (tags: Record<string, string>) => tags[tagNames.managedBy] === managedByValue;
const isManagedVersion = (v: VersionSummary) => isManaged(v.tags);
const label = (image: CatalogImage, version: string) => `${image.name}@${version}`;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * One replication sweep: reads the status of the versions the pipeline published that are still replicating (one
 * list per image, one GET per version in flight: cost follows the work, not the gallery's size), promotes those that
 * every target region has, recovers failed regions (same-regions retry, then remove and add back) a bounded number
 * of times, and marks the rest failed (never `latest`). Then removes the templates of builds that have ended. Each
 * image, version and template is handled in its own error boundary: one failing never stops the others.
 */
export async function monitorReplication(deps: PipelineDeps): Promise<MonitorResult> {
  const { gallery, settings, log } = deps;
  // Each version is checked in its build's trace (from the traceparent its tags carry), linked to this sweep.
  const sweep = deps.tracer.activeTraceparent();
  const result: MonitorResult = {
    checked: 0,
    promoted: [],
    retried: [],
    failed: [],
    swept: [],
    published: [],
    rollouts: [],
    errors: [],
  };
  const versionsByImage = new Map<string, VersionSummary[]>();
  const note = (failures: { item: Record<string, unknown>; error: unknown }[]) =>
    result.errors.push(...failures.map((f) => ({ item: f.item, error: messageOf(f.error) })));

  const images = deps.catalog.images;
  note(
    await forEachIsolated(
      images,
      (image) => ({ image: image.name }),
      log,
      async (image) => {
        const ref = definitionRefOf(image, settings);
        const versions = await gallery.listVersions(ref);
        versionsByImage.set(image.name, versions);
        const replicating = versions.filter((v) => isManaged(v.tags) && v.tags[tagNames.state] === "replicating");
        const changed = new Set<string>();
        note(
          await forEachIsolated(
            replicating,
            (v) => ({ image: image.name, version: v.name }),
            log,
            (summary) =>
              inBuildTrace(deps, sweep, `check replication ${image.name}@${summary.name}`, summary.tags, async () => {
                const version = await gallery.getVersion(ref, summary.name);
                if (!version) return;
                result.checked++;
                const after = await checkReplication(deps, image, ref, version, result);
                if (after) {
                  summary.tags = after;
                  changed.add(summary.name);
                }
              }),
          ),
        );
        const rollouts = await advanceRollouts(deps, image, ref, versions.filter(isManagedVersion), changed);
        result.rollouts.push(...rollouts.steps);
        note(rollouts.errors);
      },
    ),
  );

  try {
    await sweepLeftovers(deps, versionsByImage, result);
  } catch (error) {
    log.error("leftovers sweep failed: the next sweep tries again", { error });
    result.errors.push({ item: { sweep: "leftovers" }, error: messageOf(error) });
  }
  return result;
}

/**
 * Runs a timer's work on one build's resource in a span of that build's trace: a child of the step whose traceparent
 * the resource's tags carry, linked to the sweep (a resource from before tracing: a child of the sweep).
 */
function inBuildTrace(
  deps: PipelineDeps,
  sweep: string | undefined,
  name: string,
  tags: Record<string, string>,
  work: () => Promise<void>,
): Promise<void> {
  const parent = tags[tagNames.traceparent];
  const attributes = {
    [spanAttributes.buildId]: tags[tagNames.buildId],
    [spanAttributes.image]: tags[tagNames.image],
    [spanAttributes.version]: tags[tagNames.version],
  };
  return deps.tracer.inSpan(name, { parent, links: parent ? [sweep] : [], attributes }, work);
}

/** Acts on one replicating version; returns its tags when it changed them (so the sweep below sees them). */
async function checkReplication(
  deps: PipelineDeps,
  image: CatalogImage,
  ref: ImageDefinitionRef,
  version: VersionDetails,
  result: MonitorResult,
): Promise<Record<string, string> | undefined> {
  const { gallery, settings, clock, log } = deps;
  const retriesSoFar = Number(version.tags[tagNames.replicationRetries] ?? "0") || 0;
  const decision = decideReplication({
    provisioningState: version.provisioningState ?? "Unknown",
    replicationStatus: version.replication,
    targetRegions: image.distribution.targetRegions.map((r) => r.name),
    currentRegions: version.targetRegions.map((r) => r.name),
    homeRegion: version.location ?? homeRegionOf(image),
    retriesSoFar,
    maxRetries: settings.replicationMaxRetries,
    startedAt: version.publishedDate,
    now: clock.now(),
    timeoutInMs: settings.replicationTimeoutInMinutes * 60_000,
  });
  const buildId = version.tags[tagNames.buildId] ?? "unknown";
  const fields = { image: image.name, version: version.name, buildId };
  // A version is replicating once published: its event again (the sweep may have published it and stopped before).
  await emitVersionPublished(deps, image, version);
  const origin = eventOrigin(image, settings);
  /** The failed regions' events, sent before the recovery step: it is decided again, identically, if it is lost. */
  const replicationFailed = async (attempt: number, recovery: "retry" | "removeAndAddBack" | "none") => {
    for (const region of version.replication?.summary.filter((r) => r.state === "Failed") ?? []) {
      await emitEvent(
        deps,
        events.replicationFailed(origin, clock.now(), {
          image: image.name,
          buildId,
          version: version.name,
          region: region.region,
          ...(region.details ? { details: region.details } : {}),
          attempt,
          maxAttempts: settings.replicationMaxRetries,
          recovery,
        }),
      );
    }
  };
  deps.tracer.annotate({
    [spanAttributes.version]: version.name,
    [spanAttributes.regions]: version.targetRegions.map((r) => r.name),
    "image_pipeline.replication.action": decision.action,
    "image_pipeline.replication.regions": "regions" in decision ? decision.regions : undefined,
  });
  // Each recovery step is recorded on the version (for operators reading the gallery) and logged.
  const attempt = (n: number, action: string, regions: string[]) => ({
    [tagNames.replicationRetries]: String(n),
    [tagNames.replicationAttempt]: truncateTagValue(`${n} ${action} ${regions.join(",")} ${clock.now().toISOString()}`),
  });
  switch (decision.action) {
    case "wait":
      log.info("version still replicating", { ...fields, progress: decision.progress, note: decision.reason });
      return undefined;
    case "skip":
      log.warn("version left alone", { ...fields, reason: decision.reason });
      return undefined;
    case "promote": {
      const promotion = promotionOf(
        image,
        asHeld(image, version),
        { ...version.tags, [tagNames.state]: "promoted" },
        clock.now(),
      );
      const tags = promotion.tags;
      await deps.tracer.inSpan("promote to latest", {}, () =>
        gallery.updateVersion(
          ref,
          version.name,
          { excludeFromLatest: false, targetRegions: promotion.targetRegions, tags },
          { wait: false },
        ),
      );
      log.info(
        image.distribution.rollout
          ? "every target region has the version: promoted to latest in the rollout's first wave"
          : "every target region has the version: promoted to latest",
        fields,
      );
      await emitPromoted(deps, image, { ...version, targetRegions: promotion.targetRegions, tags });
      result.promoted.push(label(image, version.name));
      return tags;
    }
    case "retry": {
      await replicationFailed(retriesSoFar + 1, "retry");
      const tags = { ...version.tags, ...attempt(retriesSoFar + 1, "retry", decision.regions) };
      log.warn("replication failed in some regions: retrying them with the same target regions", {
        ...fields,
        regions: decision.regions,
        attempt: retriesSoFar + 1,
        maxRetries: settings.replicationMaxRetries,
      });
      await gallery.updateVersion(ref, version.name, { targetRegions: asHeld(image, version), tags }, { wait: false });
      result.retried.push(`${label(image, version.name)}: retry ${decision.regions.join(", ")}`);
      return tags;
    }
    case "removeRegions": {
      await replicationFailed(retriesSoFar + 1, "removeAndAddBack");
      const tags = { ...version.tags, ...attempt(retriesSoFar + 1, "remove", decision.regions) };
      const removed = new Set(decision.regions.map(normalizeRegion));
      const kept = asHeld(image, version).filter((r) => !removed.has(normalizeRegion(r.name)));
      log.warn("a retry did not help: removing the failed regions, to add them back", {
        ...fields,
        regions: decision.regions,
        attempt: retriesSoFar + 1,
        maxRetries: settings.replicationMaxRetries,
      });
      await gallery.updateVersion(ref, version.name, { targetRegions: kept, tags }, { wait: false });
      result.retried.push(`${label(image, version.name)}: remove ${decision.regions.join(", ")}`);
      return tags;
    }
    case "restoreRegions": {
      const tags = { ...version.tags, ...attempt(retriesSoFar, "add", decision.regions) };
      const restored = [...asHeld(image, version), ...targetRegionsNamed(image, decision.regions)];
      log.warn("adding removed regions back", { ...fields, regions: decision.regions });
      await gallery.updateVersion(ref, version.name, { targetRegions: restored, tags }, { wait: false });
      result.retried.push(`${label(image, version.name)}: add ${decision.regions.join(", ")}`);
      return tags;
    }
    case "fail": {
      await replicationFailed(retriesSoFar + 1, "none");
      await recordBuildFailure(deps, image, {
        buildId,
        reason: `replication failed: ${decision.reason}`,
        templateName: version.tags[tagNames.templateName],
        version: version.name,
      });
      result.failed.push(label(image, version.name));
      return { ...version.tags, [tagNames.state]: "failed" };
    }
  }
}

/**
 * The version's target regions as it holds them, with the catalog's replica counts and its per-region exclusions from
 * `latest` (a region the catalog no longer lists keeps what the version says). A region keeps the storage type it
 * has: Azure refuses to change it (local/arm/README.md, V21).
 */
export function asHeld(image: CatalogImage, version: VersionSummary): TargetRegionSpec[] {
  const fromCatalog = new Map(renderTargetRegions(image).map((r) => [normalizeRegion(r.name), r]));
  return version.targetRegions.map((r) => {
    const known = fromCatalog.get(normalizeRegion(r.name));
    if (known) {
      const storageAccountType =
        (r.storageAccountType as TargetRegionSpec["storageAccountType"] | undefined) ?? known.storageAccountType;
      return { ...known, name: r.name, storageAccountType };
    }
    return heldRegion(image, r);
  });
}

/** A template whose build produced nothing for this long is abandoned (its messages were lost or dead-lettered). */
const abandonedAfterInMs = 6 * 60 * 60_000;
/** A run that succeeded this long ago without its version taken over lost its publish message. */
const publishStalledAfterInMs = 15 * 60_000;

/**
 * Removes the templates of builds that ended (Image Builder deletes a template's staging resource group, with its
 * customization log, together with it): at once when the version was promoted; a failed build's only once its
 * evidence retention window has passed. It also finishes what lost messages left undone: a version distributed but
 * never taken over is published, a build that ended without a version or was never run is recorded as failed.
 * Crash-safe cleanup depends on no message.
 */
async function sweepLeftovers(
  deps: PipelineDeps,
  versionsByImage: Map<string, VersionSummary[]>,
  result: MonitorResult,
): Promise<void> {
  const { imageBuilder, settings, clock, log } = deps;
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  const now = clock.now().getTime();
  const retentionInMs = settings.failedBuildRetentionInHours * 3_600_000;
  const templates = (await imageBuilder.listTemplates(subscriptionId, resourceGroup)).filter((t) => isManaged(t.tags));
  const sweep = deps.tracer.activeTraceparent();
  const inTrace = (template: TemplateSummary, name: string, work: () => Promise<void>) =>
    inBuildTrace(deps, sweep, `${name} ${template.name}`, template.tags, work);
  const remove = (template: TemplateSummary, why: string, before?: () => Promise<void>) =>
    inTrace(template, "remove template", async () => {
      await before?.();
      log.info("removing template of an ended build", { template: template.name, reason: why });
      await imageBuilder.deleteTemplate(subscriptionId, resourceGroup, template.name);
      result.swept.push(template.name);
    });

  const failures = await forEachIsolated(
    templates,
    (t) => ({ template: t.name }),
    log,
    async (template) => {
      const buildId = template.tags[tagNames.buildId] ?? template.name;
      const image = deps.catalog.images.find((i) => i.name === template.tags[tagNames.image]);
      if (!image) return remove(template, "its image is no longer in the catalog");
      const versions = versionsByImage.get(image.name);
      // The image's versions could not be read this sweep: nothing about its templates can be decided.
      if (!versions) return;
      const version = versions.find((v) => v.tags[tagNames.buildId] === buildId);
      const state = version?.tags[tagNames.state];
      const run = template.lastRunStatus;
      const endedAt = run?.endTime?.getTime();
      const failedAt = Date.parse(template.tags[tagNames.failedAt] ?? "");
      const createdAt = Date.parse(template.tags[tagNames.createdAt] ?? "");
      const since = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? 0 : now - ms);

      if (state === "promoted") {
        // The promotion's event again before the evidence of the build goes: the pass that promoted it may have
        // stopped before sending it, and the template is what brings the sweep back here. Sent in the build's trace,
        // like the removal, not in the sweep's.
        return remove(template, `its version ${version?.name} is promoted`, () => emitPromoted(deps, image, version!));
      }
      if (state === "rolledBack") return remove(template, `its version ${version?.name} was rolled back`);
      if (!Number.isNaN(failedAt)) {
        if (since(failedAt) > retentionInMs) {
          return remove(template, `its build failed over ${settings.failedBuildRetentionInHours} h ago`);
        }
        return;
      }
      const ref = definitionRefOf(image, settings);
      const fail = (reason: string) =>
        inTrace(template, "finish lost build", async () => {
          await recordBuildFailure(deps, image, {
            buildId,
            reason,
            templateName: template.name,
            version: version?.name,
          });
        });
      if (state === "failed") return void (await fail("its version failed"));
      if (run?.runState === "Failed" || run?.runState === "Canceled" || template.provisioningState === "Failed") {
        // watchBuild records these; its message was lost if we get here.
        const reason = run?.message || template.provisioningErrorMessage || "no message";
        return void (await fail(`Image Builder run ${(run?.runState ?? "provisioning").toLowerCase()}: ${reason}`));
      }
      if (
        state === "distributing" &&
        succeededRunStates.has(run?.runState ?? "") &&
        since(endedAt) > publishStalledAfterInMs
      ) {
        return inTrace(template, "publish lost version", async () => {
          log.warn("a distributed version was never taken over: publishing it now", {
            template: template.name,
            buildId,
          });
          const published = await expandVersion(deps, image, ref, version!, {
            baseImageVersion: template.sourceExactVersion,
            templateName: template.name,
          });
          if (published.outcome === "published") result.published.push(label(image, version!.name));
        });
      }
      if (!version && terminalRunStates.has(run?.runState ?? "") && since(endedAt) > abandonedAfterInMs) {
        return void (await fail("build abandoned: its run ended long ago without a version"));
      }
      if (!run?.runState && since(createdAt) > abandonedAfterInMs) {
        return void (await fail("build abandoned: its template was never run"));
      }
      // watchBuild runs a template once provisioned; its watch was lost if one is still not run by now.
      if (!run?.runState && template.provisioningState === "Succeeded" && since(createdAt) > publishStalledAfterInMs) {
        return inTrace(template, "run lost template", async () => {
          log.warn("a provisioned template was never run: running it now", { template: template.name, buildId });
          await startRun(deps, image, {
            buildId,
            templateName: template.name,
            version: template.tags[tagNames.version],
          });
        });
      }
    },
  );
  result.errors.push(...failures.map((f) => ({ item: f.item, error: messageOf(f.error) })));
}

/** The monitor's promotion of a version, as an event (a version promoted again by hand is the promote command's). */
async function emitPromoted(deps: PipelineDeps, image: CatalogImage, version: VersionSummary): Promise<void> {
  const buildId = version.tags[tagNames.buildId];
  if (!buildId || Number(version.tags[tagNames.rollbacks] ?? "0") > 0) return;
  await emitEvent(
    deps,
    events.versionPromoted(
      eventOrigin(image, deps.settings),
      deps.clock.now(),
      {
        image: image.name,
        buildId,
        version: version.name,
        // A progressive rollout's later waves keep it out of `latest` for now: the event names where it is.
        regions: version.targetRegions.filter((r) => r.excludeFromLatest !== true).map((r) => r.name),
        promotedBy: "monitor",
      },
      0,
    ),
  );
}
