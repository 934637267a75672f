import type { CatalogImage } from "../catalog/schema.js";
import { normalizeRegion } from "../domain/gallery.js";
import { latestVersionOf } from "../domain/latest.js";
import { tagNames, truncateTagValue } from "../domain/names.js";
import { readScheduleDisablement, readScheduleEnablement, withScheduleEnabled } from "../domain/scheduleState.js";
import { NotFoundError, OperationNotAllowedError } from "../errors.js";
import type { VersionSummary } from "../ports.js";
import { definitionRefOf, type PipelineDeps } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";
import { asHeld } from "./monitorReplication.js";

/** What `latest` resolves to, globally and in each region some version targets (checked after a change). */
export interface LatestResolution {
  latest?: string;
  byRegion: Record<string, string | null>;
}

/** Which version `latest` resolves to now, read from the gallery. */
export function latestOf(versions: readonly VersionSummary[]): LatestResolution {
  const regions = [...new Set(versions.flatMap((v) => v.targetRegions.map((r) => r.name)))].sort();
  const byRegion: Record<string, string | null> = {};
  for (const region of regions) byRegion[region] = latestVersionOf(versions, region)?.name ?? null;
  const latest = latestVersionOf(versions)?.name;
  return latest ? { latest, byRegion } : { byRegion };
}

const rollbacksOf = (tags: Record<string, string>) => Number(tags[tagNames.rollbacks] ?? "0") || 0;

/** What a rollback did. */
export interface RollbackResult {
  image: string;
  version: string;
  /** True when the version was rolled back already (nothing changed; its event was sent again). */
  alreadyRolledBack: boolean;
  after: LatestResolution;
}

/**
 * Takes a version out of `latest` (the one `latest` resolves to, unless named): excluded globally and in every
 * region it targets, its state `rolledBack` with why, when and by whom on its tags, so the monitor never promotes it
 * again and retention counts it unhealthy. Refused when no other version could then be `latest` somewhere it is now.
 * Waits for Azure to finish the update, then reads the versions back and checks that `latest` no longer resolves to
 * it anywhere. Idempotent: a version already rolled back is left as it is and its event sent again.
 * @throws NotFoundError, OperationNotAllowedError
 */
export async function rollbackVersion(
  deps: PipelineDeps,
  image: CatalogImage,
  request: { version?: string; reason: string; by: string },
): Promise<RollbackResult> {
  const { gallery, settings, clock, log } = deps;
  const ref = definitionRefOf(image, settings);
  const versions = await gallery.listVersions(ref);
  const name = request.version ?? latestVersionOf(versions)?.name;
  if (!name) throw new NotFoundError(`no version of ${image.name} is latest: name the version to roll back`);
  const version = versions.find((v) => v.name === name);
  if (!version) throw new NotFoundError(`${image.name} has no version ${name}`);
  const state = version.tags[tagNames.state];
  if (state === "failed" || state === "distributing") {
    throw new OperationNotAllowedError(
      "RollbackNotAllowed",
      `version ${name} of ${image.name} is ${state}: it is not and never becomes latest`,
    );
  }
  if (state !== "rolledBack") {
    const others = versions.filter((v) => v.name !== name);
    const orphaned = [undefined, ...version.targetRegions.map((r) => r.name)].filter(
      (region) => latestVersionOf(versions, region)?.name === name && !latestVersionOf(others, region),
    );
    if (orphaned.length > 0) {
      throw new OperationNotAllowedError(
        "RollbackWouldLeaveNoLatest",
        `rolling back ${name} would leave ${image.name} without a latest version ` +
          `(${orphaned.map((r) => r ?? "globally").join(", ")}): VMs asking for latest would fail. ` +
          "Promote another version first (image-pipeline promote), or build one",
      );
    }
    const rollbacks = rollbacksOf(version.tags) + 1;
    const now = clock.now();
    log.warn("rolling back a version out of latest", { image: image.name, version: name, reason: request.reason });
    await gallery.updateVersion(
      ref,
      name,
      {
        excludeFromLatest: true,
        targetRegions: asHeld(image, version).map((r) => ({ ...r, excludeFromLatest: true })),
        tags: {
          ...version.tags,
          [tagNames.state]: "rolledBack",
          [tagNames.rollbacks]: String(rollbacks),
          [tagNames.rolledBack]: truncateTagValue(`${now.toISOString()} ${request.by}`),
          [tagNames.rollbackReason]: truncateTagValue(request.reason),
        },
      },
      { wait: true },
    );
  }
  const after = latestOf(await gallery.listVersions(ref));
  const rolledBack = (await gallery.getVersion(ref, name)) ?? version;
  const stillLatest = [after.latest, ...Object.values(after.byRegion)].includes(name);
  if (stillLatest) {
    throw new Error(`${name} of ${image.name} is still latest after its rollback: ${JSON.stringify(after)}`);
  }
  const [at = clock.now().toISOString(), by = request.by] = (rolledBack.tags[tagNames.rolledBack] ?? "").split(" ");
  const buildId = rolledBack.tags[tagNames.buildId];
  await emitEvent(
    deps,
    events.versionRolledBack(
      eventOrigin(image, settings),
      clock.now(),
      {
        image: image.name,
        ...(buildId ? { buildId } : {}),
        version: name,
        reason: rolledBack.tags[tagNames.rollbackReason] ?? request.reason,
        rolledBackBy: by,
        rolledBackAt: at,
        ...(after.latest ? { latest: after.latest } : {}),
      },
      rollbacksOf(rolledBack.tags),
    ),
  );
  return { image: image.name, version: name, alreadyRolledBack: state === "rolledBack", after };
}

/** What a promotion did. */
export interface PromoteResult {
  image: string;
  version: string;
  /** True when the version was promoted already (nothing changed). */
  alreadyPromoted: boolean;
  after: LatestResolution;
}

/**
 * Puts a fully replicated version (back) into `latest`: every target region of the catalog entry holds it
 * (`Completed`) and its provisioning succeeded; a failed version is refused. Its regions get the catalog's own
 * exclusions back, its state `promoted`. Waits for Azure, then reads back what `latest` resolves to (a newer promoted
 * version stays `latest`: Compute Gallery resolves `latest` to the highest version not excluded).
 * @throws NotFoundError, OperationNotAllowedError
 */
export async function promoteVersion(
  deps: PipelineDeps,
  image: CatalogImage,
  request: { version: string; by: string },
): Promise<PromoteResult> {
  const { gallery, settings, clock, log } = deps;
  const ref = definitionRefOf(image, settings);
  const name = request.version;
  const version = await gallery.getVersion(ref, name);
  if (!version) throw new NotFoundError(`${image.name} has no version ${name}`);
  const state = version.tags[tagNames.state];
  if (state === "failed" || state === "distributing") {
    throw new OperationNotAllowedError("PromoteNotAllowed", `version ${name} of ${image.name} is ${state}`);
  }
  const replicated = new Map(
    (version.replication?.summary ?? []).map((r) => [normalizeRegion(r.region), r.state] as const),
  );
  const pending = image.distribution.targetRegions
    .map((r) => r.name)
    .filter((region) => replicated.get(normalizeRegion(region)) !== "Completed");
  if (version.provisioningState !== "Succeeded" || pending.length > 0) {
    throw new OperationNotAllowedError(
      "NotFullyReplicated",
      `version ${name} of ${image.name} is not in every target region yet ` +
        `(provisioningState ${version.provisioningState ?? "unknown"}; not completed: ${pending.join(", ") || "none"})`,
    );
  }
  const alreadyPromoted =
    state === "promoted" && !version.excludeFromLatest && version.targetRegions.every((r) => !r.excludeFromLatest);
  if (!alreadyPromoted) {
    log.warn("promoting a version by hand", { image: image.name, version: name, by: request.by });
    await gallery.updateVersion(
      ref,
      name,
      {
        excludeFromLatest: false,
        targetRegions: asHeld(image, version).map((r) => {
          const catalogRegion = image.distribution.targetRegions.find(
            (t) => normalizeRegion(t.name) === normalizeRegion(r.name),
          );
          const { excludeFromLatest: _dropped, ...rest } = r;
          return catalogRegion?.excludeFromLatest ? { ...rest, excludeFromLatest: true } : rest;
        }),
        tags: { ...version.tags, [tagNames.state]: "promoted" },
      },
      { wait: true },
    );
  }
  const after = latestOf(await gallery.listVersions(ref));
  const promoted = (await gallery.getVersion(ref, name)) ?? version;
  if (promoted.excludeFromLatest) throw new Error(`${name} of ${image.name} is still excluded from latest`);
  const buildId = promoted.tags[tagNames.buildId];
  if (buildId) {
    await emitEvent(
      deps,
      events.versionPromoted(
        eventOrigin(image, settings),
        clock.now(),
        {
          image: image.name,
          buildId,
          version: name,
          regions: promoted.targetRegions.map((r) => r.name),
          promotedBy: request.by,
        },
        rollbacksOf(promoted.tags),
      ),
    );
  }
  return { image: image.name, version: name, alreadyPromoted, after };
}

/** What enabling a schedule did. */
export interface EnableScheduleResult {
  image: string;
  /** False when the schedule was not disabled (nothing changed). */
  wasDisabled: boolean;
  enabledAt?: string;
}

/**
 * Turns an image's schedule back on after it disabled itself: the disablement leaves the definition's tags, and the
 * failures before now no longer count toward the next one. Idempotent: enabling an enabled schedule sends the last
 * enablement's event again (a run that stopped before sending it is repeated by asking again).
 * @throws NotFoundError when the image has no definition yet
 */
export async function enableSchedule(
  deps: PipelineDeps,
  image: CatalogImage,
  request: { by: string },
): Promise<EnableScheduleResult> {
  const { gallery, settings, clock, log } = deps;
  const ref = definitionRefOf(image, settings);
  const definition = await gallery.getImageDefinition(ref);
  if (!definition) throw new NotFoundError(`${image.name} has no image definition yet: it was never built`);
  const disabled = readScheduleDisablement(definition.tags);
  let tags = definition.tags;
  if (disabled) {
    tags = withScheduleEnabled(definition.tags, disabled, clock.now());
    log.info("enabling the schedule again", { image: image.name, disabledAt: disabled.at, by: request.by });
    await gallery.updateImageDefinitionTags(ref, tags);
  }
  const enabled = readScheduleEnablement(tags);
  if (enabled && enabled.disabledBy !== "-") {
    await emitEvent(
      deps,
      events.scheduleEnabled(
        eventOrigin(image, settings),
        clock.now(),
        { image: image.name, enabledBy: request.by, enabledAt: enabled.at, disabledAt: enabled.disabledAt },
        enabled.disabledBy,
      ),
    );
  }
  return { image: image.name, wasDisabled: disabled !== undefined, ...(enabled ? { enabledAt: enabled.at } : {}) };
}
