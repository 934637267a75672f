import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../shared/domain/names.js";
import { isHealthy, planRetention } from "../../shared/domain/retention.js";
import { compareVersions, parseVersion } from "../../shared/domain/versions.js";
import type { VersionDetails } from "../../shared/ports.js";
import { pruneVersions, toSnapshot } from "../../shared/usecases/pruneVersions.js";
import { aCatalogImage } from "../factories.js";
import { fakePipeline } from "../fakes/pipeline.js";

const dayInMs = 86_400_000;

/** How one delete call goes: Azure does it; refuses it; does it but the answer is lost; or accepts it and takes its time. */
const deleteOutcomes = ["done", "refused", "doneAnswerLost", "stillDeleting"] as const;
type DeleteOutcome = (typeof deleteOutcomes)[number];

const versionName = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }))
  .map(([a, b, c]) => `${a}.${b}.${c}`);

/** A version as a gallery may hold it: any age, end of life, state, health, owner. */
const aVersion = fc.record({
  name: fc.oneof({ weight: 19, arbitrary: versionName }, { weight: 1, arbitrary: fc.constant("not-a-version") }),
  ageInDays: fc.option(fc.integer({ min: 0, max: 400 }), { freq: 12 }),
  endOfLifeInDays: fc.option(fc.integer({ min: -300, max: 120 }), { freq: 4 }),
  excludeFromLatest: fc.constantFrom(false, false, true),
  provisioningState: fc.constantFrom(
    "Succeeded",
    "Succeeded",
    "Succeeded",
    "Failed",
    "Creating",
    "Updating",
    "Deleting",
  ),
  state: fc.constantFrom("promoted", "promoted", "replicating", "failed", undefined),
  managed: fc.constantFrom(true, true, true, true, false),
});

const aPolicy = fc.record({
  keepLatest: fc.integer({ min: 1, max: 5 }),
  minAgeDays: fc.integer({ min: 0, max: 30 }),
  maxDeletionsPerRun: fc.integer({ min: 1, max: 6 }),
  includeUnmanaged: fc.boolean(),
});

const aScenario = fc.record({
  versions: fc.uniqueArray(aVersion, { minLength: 0, maxLength: 24, selector: (v) => v.name }),
  policy: aPolicy,
  /** Outcomes of successive delete calls, cycled. */
  outcomes: fc.array(fc.constantFrom(...deleteOutcomes), { minLength: 1, maxLength: 12 }),
  /** Runs under faults, and the hours that pass before each. */
  runs: fc.array(fc.integer({ min: 0, max: 72 }), { minLength: 1, maxLength: 4 }),
  /** Whether a deletion still in progress has finished by the next run. */
  deletionsFinish: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
});

/**
 * The retention invariants hold over random galleries, policies and delete failures across several runs: a version
 * is deleted only when the rules allow it at that moment (never the newest healthy ones, never latest, never before
 * its end of life); and once the faults stop, the next runs finish exactly what a fault-free pruning would have done.
 */
describe("pruning under delete failures (property, on fakes)", () => {
  it("never deletes a protected version, and the next fault-free runs finish the plan", async () => {
    let deleteCalls = 0;
    let failedDeletes = 0;
    await fc.assert(
      fc.asyncProperty(aScenario, async (scenario) => {
        const image = aCatalogImage({ retention: { ...scenario.policy, endOfLifeDays: 90, dryRun: false } });
        const world = fakePipeline([image]);
        const ref = world.refOf(image);
        const key = `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`;
        const start = world.clock.now().getTime();
        const gallery = new Map<string, VersionDetails>();
        for (const v of scenario.versions) {
          gallery.set(v.name, {
            name: v.name,
            provisioningState: v.provisioningState,
            publishedDate: v.ageInDays === null ? undefined : new Date(start - v.ageInDays * dayInMs),
            endOfLifeDate: v.endOfLifeInDays === null ? undefined : new Date(start + v.endOfLifeInDays * dayInMs),
            excludeFromLatest: v.excludeFromLatest,
            targetRegions: [{ name: "westeurope" }],
            tags: {
              ...(v.managed ? { [tagNames.managedBy]: managedByValue } : {}),
              ...(v.state ? { [tagNames.state]: v.state } : {}),
            },
          });
        }
        world.gallery.versions.set(key, gallery);
        const initial = [...gallery.values()].map((v) => ({ ...v }));

        // What must survive whatever happens: latest and the newest healthy versions.
        const ordered = initial.filter((v) => parseVersion(v.name)).sort((a, b) => compareVersions(b.name, a.name));
        const latest = ordered.find((v) => !v.excludeFromLatest)?.name;
        const newestHealthy = ordered
          .filter((v) => isHealthy(toSnapshot(v)))
          .slice(0, image.retention.keepLatest)
          .map((v) => v.name);

        let call = 0;
        let faulty = true;
        const violations: string[] = [];
        const deleting = new Set<string>();
        world.gallery.deleteVersion = async (_ref, name) => {
          const v = gallery.get(name);
          const now = world.clock.now().getTime();
          deleteCalls++;
          // Every deletion asked for is one the rules allow at this moment. Recorded, not thrown: pruneVersions
          // catches what deleteVersion throws.
          const violation = (why: string) => violations.push(`${name}: ${why}`);
          if (!v) violation("does not exist");
          else {
            if (name === latest) violation("latest resolves to it");
            if (newestHealthy.includes(name)) violation(`one of the newest ${image.retention.keepLatest} healthy`);
            if (v.endOfLifeDate && v.endOfLifeDate.getTime() > now) violation("before its end of life");
            if (!v.publishedDate || now - v.publishedDate.getTime() < image.retention.minAgeDays * dayInMs)
              violation("too young or of unknown age");
            if (["Creating", "Updating", "Deleting"].includes(v.provisioningState ?? "")) violation("in progress");
            if (!image.retention.includeUnmanaged && v.tags[tagNames.managedBy] !== managedByValue)
              violation("not the pipeline's");
          }

          const outcome: DeleteOutcome = faulty ? scenario.outcomes[call++ % scenario.outcomes.length]! : "done";
          if (outcome !== "done") failedDeletes++;
          switch (outcome) {
            case "done":
              gallery.delete(name);
              return;
            case "refused":
              throw new Error("503 ServiceUnavailable");
            case "doneAnswerLost":
              gallery.delete(name);
              throw new Error("socket hang up");
            case "stillDeleting":
              if (v) v.provisioningState = "Deleting";
              deleting.add(name);
              return;
          }
        };

        // Runs under faults. Between runs time passes, and some deletions in progress finish.
        for (const [i, hours] of scenario.runs.entries()) {
          world.clock.advance(hours * 3_600_000);
          for (const name of [...deleting]) {
            if (scenario.deletionsFinish[i % scenario.deletionsFinish.length]) {
              gallery.delete(name);
              deleting.delete(name);
            }
          }
          const {
            images: [result],
          } = await pruneVersions(world.deps);
          expect(violations).toEqual([]);
          // Every version gets a decision with a reason; nothing is both kept and deleted.
          const decided = [...result!.deleted, ...result!.kept].map((d) => d.version);
          expect(new Set(decided).size).toBe(decided.length);
          for (const d of [...result!.deleted, ...result!.kept]) expect(d.reason).not.toBe("");
        }

        // The faults stop and pending deletions finish: fault-free runs converge to what the rules want now.
        faulty = false;
        for (const name of deleting) gallery.delete(name);
        const wanted = planRetention({
          versions: initial.map(toSnapshot),
          policy: { ...image.retention, maxDeletionsPerRun: Number.MAX_SAFE_INTEGER },
          now: world.clock.now(),
        });
        const wantedGone = new Set(wanted.deletions.map((d) => d.version));
        const runsNeeded = Math.ceil(wantedGone.size / image.retention.maxDeletionsPerRun) + 1;
        for (let i = 0; i < runsNeeded; i++) await pruneVersions(world.deps);
        expect(violations).toEqual([]);

        const remaining = [...gallery.keys()].sort();
        expect(remaining).toEqual(
          initial
            .map((v) => v.name)
            .filter((n) => !wantedGone.has(n))
            .sort(),
        );
        if (latest) expect(remaining).toContain(latest);
        for (const name of newestHealthy) expect(remaining).toContain(name);
      }),
      { numRuns: 1000 },
    );
    console.info(
      `[reliability] prune: 1000 random galleries, ${deleteCalls} delete calls, ${failedDeletes} failed or unfinished, 0 invariant violations`,
    );
  });
});
