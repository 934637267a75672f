import type { CatalogImage } from "../catalog/schema.js";
import type { TargetRegionSpec } from "../domain/imageVersion.js";
import {
  decideRollout,
  firstWaveRegions,
  firstWaveTags,
  heldRegions,
  includeRegions,
  readRollout,
  rolloutTags,
  type RolloutRecord,
} from "../domain/rollout.js";
import type { ImageDefinitionRef, VersionSummary } from "../ports.js";
import { tagNames } from "../domain/names.js";
import { forEachIsolated, type PipelineDeps } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";

/**
 * How a replicated version is promoted: everywhere at once, or into the first wave of the catalog's rollout (the
 * later waves' regions keep it out of `latest`, and its tags start the rollout). One update does both, so Azure never
 * holds a promoted version without its rollout state.
 */
export function promotionOf(
  image: CatalogImage,
  regions: TargetRegionSpec[],
  tags: Record<string, string>,
  now: Date,
): { targetRegions: TargetRegionSpec[]; tags: Record<string, string> } {
  const rollout = image.distribution.rollout;
  if (!rollout) return { targetRegions: regions, tags };
  return { targetRegions: firstWaveRegions(rollout, regions), tags: firstWaveTags(tags, now) };
}

const label = (image: CatalogImage, version: string) => `${image.name}@${version}`;

/**
 * Moves each rolling version of one image on to its next wave when its soak is over (and its health check, if the
 * catalog names one, answered 2xx), stops the rollout of a version rolled back meanwhile, and halts one whose health
 * check kept failing. Reads nothing more than the version list the monitor already read; versions the monitor changed
 * in this sweep (`changedThisSweep`) wait for the next one, which sees them as Azure holds them. Each version in its
 * own error boundary. Returns what it did, one line per step.
 */
export async function advanceRollouts(
  deps: PipelineDeps,
  image: CatalogImage,
  ref: ImageDefinitionRef,
  versions: readonly VersionSummary[],
  changedThisSweep: ReadonlySet<string>,
): Promise<{ steps: string[]; errors: { item: Record<string, unknown>; error: unknown }[] }> {
  const { gallery, clock, log } = deps;
  const steps: string[] = [];
  const rolling = versions.filter((v) => readRollout(v.tags)?.state === "rolling" && !changedThisSweep.has(v.name));
  const excludedByCatalog = image.distribution.targetRegions.filter((r) => r.excludeFromLatest).map((r) => r.name);
  const errors = await forEachIsolated(
    rolling,
    (v) => ({ image: image.name, version: v.name, step: "rollout" }),
    log,
    async (version) => {
      const rollout = image.distribution.rollout;
      const now = clock.now();
      const record = readRollout(version.tags)!;
      const fields = { image: image.name, version: version.name, wave: record.wave };
      const decision = decideRollout({ rollout, excludedByCatalog, version, now });
      const write = async (next: RolloutRecord, targetRegions?: TargetRegionSpec[]) => {
        await gallery.updateVersion(
          ref,
          version.name,
          { tags: rolloutTags(version.tags, next), ...(targetRegions ? { targetRegions } : {}) },
          // Submitted, not awaited (as the promotion is): the next sweep waits while Azure still applies it.
          { wait: false },
        );
      };
      // Sent before the change: a lost change is decided again identically from the same tags (shared/events/README.md).
      const buildId = version.tags[tagNames.buildId];
      const origin = eventOrigin(image, deps.settings);
      const stopped = (state: "stopped" | "halted", reason: string) =>
        emitEvent(
          deps,
          events.rolloutStopped(origin, now, {
            image: image.name,
            ...(buildId ? { buildId } : {}),
            version: version.name,
            state,
            wave: record.wave,
            reason,
          }),
        );
      switch (decision.action) {
        case "none":
          return;
        case "wait":
          log.info("rollout waiting", {
            ...fields,
            waves: decision.waves,
            nextWaveAt: decision.nextWaveAt?.toISOString(),
            reason: decision.reason,
          });
          return;
        case "stop":
          log.warn("rollout stopped: the version was rolled back", { ...fields, reason: decision.reason });
          await stopped("stopped", decision.reason);
          await write({ ...record, state: "stopped", note: decision.reason });
          steps.push(`${label(image, version.name)}: stopped in wave ${record.wave} (rolled back)`);
          return;
        case "checkHealth": {
          const check = rollout!.healthCheck!;
          const result = deps.healthGate
            ? await deps.healthGate.check({
                url: check.url,
                timeoutInMs: check.timeoutInSeconds * 1000,
                image: image.name,
                version: version.name,
                wave: decision.nextWave,
                regions: decision.regions,
              })
            : { healthy: false, detail: "this app has no health gate to ask" };
          if (!result.healthy) {
            const failures = record.gateFailures + 1;
            const halted = failures >= check.failuresBeforeHalt;
            const note = `health check before wave ${decision.nextWave} failed (${failures}/${check.failuresBeforeHalt}): ${result.detail}`;
            log.warn(halted ? "rollout halted: its health check kept failing" : "rollout health check failed", {
              ...fields,
              nextWave: decision.nextWave,
              failures,
              failuresBeforeHalt: check.failuresBeforeHalt,
              detail: result.detail,
            });
            if (halted) await stopped("halted", note);
            await write({ ...record, state: halted ? "halted" : "rolling", gateFailures: failures, note });
            steps.push(
              `${label(image, version.name)}: ${halted ? "halted" : "health check failed"} before wave ${decision.nextWave}`,
            );
            return;
          }
          log.info("rollout health check passed", { ...fields, nextWave: decision.nextWave, detail: result.detail });
          return advance(decision.nextWave, decision.regions, decision.nextWave === rollout!.waves.length);
        }
        case "advance":
          return advance(decision.nextWave, decision.regions, decision.complete);
      }

      async function advance(wave: number, regions: string[], complete: boolean) {
        log.info(complete ? "rollout complete: latest moves into the last wave" : "rollout moves to the next wave", {
          ...fields,
          nextWave: wave,
          regions,
        });
        const next: RolloutRecord = { state: complete ? "complete" : "rolling", wave, waveAt: now, gateFailures: 0 };
        const waves = image.distribution.rollout?.waves.length ?? wave;
        if (wave > record.wave) {
          await emitEvent(
            deps,
            events.rolloutWaveMoved(origin, now, {
              image: image.name,
              ...(buildId ? { buildId } : {}),
              version: version.name,
              wave,
              waves: Math.max(waves, wave, 2),
              regions,
              complete,
            }),
          );
        }
        await write(next, includeRegions(heldRegions(image, version), regions));
        steps.push(
          `${label(image, version.name)}: wave ${wave}${complete ? " (complete)" : ""}: latest in ${regions.join(", ") || "no new region"}`,
        );
      }
    },
  );
  return { steps, errors };
}
