/**
 * Pruning at gallery scale (issue 16): 1,000 images with 10 deletions due each, pruned by the pipeline's
 * `pruneVersions` (real adapters, default pacing, the default time budget of 480 s per run) on the ARM emulator with
 * ARM's token buckets (Azure's numbers: deletes 200 burst, 10 per second), in real time. Runs follow each other until
 * one deletes nothing; after each run every deletion is checked against the retention rules as they stood before the
 * run. Prints a summary and writes bench/results/prune.json.
 *
 * `npm run bench:prune [-- --definitions 1000 --due 10 --budget 480]`
 */
import { parseArgs } from "node:util";
import { armAdmin } from "../local/armAdmin.js";
import { createPipeline } from "../functions/composition.js";
import { catalogSchema, type Catalog } from "../shared/catalog/schema.js";
import { parseSettings } from "../shared/config/settings.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import { planRetention, type VersionSnapshot } from "../shared/domain/retention.js";
import { createLogger } from "../shared/observability/logger.js";
import { pruneVersions } from "../shared/usecases/pruneVersions.js";
import { MemoryCatalogReader } from "../test/fakes/catalogReader.js";
import { armTokenBuckets, readCounters, startBenchArm, type ArmCounters } from "./lib/arm.js";
import { distribution, ratio, table } from "./lib/stats.js";
import { withDeadline, writeResult } from "./lib/results.js";
import type { ArmEmulator } from "../local/arm/index.js";

const { values: argv } = parseArgs({
  options: {
    definitions: { type: "string", default: "1000" },
    due: { type: "string", default: "10" },
    budget: { type: "string", default: "480" },
  },
});
const subscriptionId = "00000000-0000-0000-0000-000000000000";
const galleryResourceGroup = "rg-golden-images";
const galleryName = "acg_prune";
const dayInMs = 86_400_000;
const scenario = {
  definitions: Number(argv.definitions),
  /** Versions past their end of life, superseded, older than minAgeDays: deletable. */
  due: Number(argv.due),
  /** The newest versions, promoted, end of life ahead: kept (newest healthy, latest). */
  kept: 2,
  retention: { keepLatest: 2, minAgeDays: 7, maxDeletionsPerRun: 10, endOfLifeDays: 90 },
  throttling: { enabled: true, ...armTokenBuckets },
  latencyInMs: 20,
  pageSize: 100,
  /** PRUNE_TIME_BUDGET_IN_SECONDS's default; the function timeout is 600 s. */
  timeBudgetInSeconds: Number(argv.budget),
  functionTimeoutInSeconds: 600,
  maxRuns: 12,
};

const definitionName = (d: number) => `image-${String(d).padStart(4, "0")}`;

/** Per definition: `due` versions expired long ago, then `kept` promoted ones with their end of life ahead. */
function seedBody(nowMs: number) {
  const imageDefinitions = [];
  const imageVersions = [];
  const total = scenario.due + scenario.kept;
  for (let d = 0; d < scenario.definitions; d++) {
    const name = definitionName(d);
    imageDefinitions.push({
      resourceGroup: galleryResourceGroup,
      gallery: galleryName,
      name,
      properties: {
        osType: "Linux",
        osState: "Generalized",
        hyperVGeneration: "V2",
        identifier: { publisher: "contoso", offer: "prune", sku: name },
      },
    });
    for (let v = 0; v < total; v++) {
      const kept = v >= scenario.due;
      // Published a week apart; the due ones' end of life passed (spread over days, so eligibility differs by image).
      const publishedMs = nowMs - (total - v) * 7 * dayInMs - (d % 24) * 3_600_000;
      const endOfLifeMs = kept ? nowMs + 60 * dayInMs : nowMs - (scenario.due - v) * dayInMs - (d % 24) * 3_600_000;
      imageVersions.push({
        resourceGroup: galleryResourceGroup,
        gallery: galleryName,
        imageDefinition: name,
        name: `1.0.${v}`,
        location: "westeurope",
        tags: {
          [tagNames.managedBy]: managedByValue,
          [tagNames.state]: "promoted",
          [tagNames.buildId]: `b${String(d).padStart(4, "0")}v${v}`,
          [tagNames.image]: name,
          [tagNames.version]: `1.0.${v}`,
        },
        properties: {
          publishingProfile: {
            targetRegions: [{ name: "westeurope" }, { name: "northeurope" }],
            excludeFromLatest: false,
            endOfLifeDate: new Date(endOfLifeMs).toISOString(),
          },
        },
        createdAt: new Date(publishedMs).toISOString(),
      });
    }
  }
  return {
    subscriptionId,
    galleries: [{ resourceGroup: galleryResourceGroup, name: galleryName, location: "westeurope" }],
    imageDefinitions,
    imageVersions,
  };
}

function catalogOf(): Catalog {
  return catalogSchema.parse({
    images: Array.from({ length: scenario.definitions }, (_, d) => ({
      name: definitionName(d),
      gallery: { resourceGroup: galleryResourceGroup, name: galleryName },
      definition: { publisher: "contoso", offer: "prune", sku: definitionName(d), osType: "Linux" },
      source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
      customize: [{ type: "Shell", name: "update", inline: ["sudo apt-get update"] }],
      build: { location: "westeurope" },
      distribution: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }] },
      versioning: { scheme: "semver", major: 1, minor: 0 },
      retention: scenario.retention,
    })),
  });
}

/**
 * Every version the emulator holds, by definition, as the retention rules read them. The list (admin API: not
 * counted) says which versions exist and their provisioning state; dates and flags are the seed's (pruning changes
 * none of them).
 */
async function gallerySnapshot(
  arm: ArmEmulator,
  seeded: Map<string, VersionSnapshot>,
): Promise<Map<string, VersionSnapshot[]>> {
  const { resources } = await armAdmin<{
    resources: { id: string; tags?: Record<string, string>; provisioningState?: string }[];
  }>(arm, "GET", "resources?type=Microsoft.Compute/galleries/images/versions");
  const byDefinition = new Map<string, VersionSnapshot[]>();
  for (const r of resources) {
    const [definition, , version] = r.id.split("/images/")[1]!.split("/") as [string, string, string];
    const seed = seeded.get(`${definition}/${version}`);
    if (!seed) throw new Error(`a version the bench did not seed: ${r.id}`);
    const list = byDefinition.get(definition) ?? [];
    list.push({ ...seed, provisioningState: r.provisioningState, tags: r.tags ?? {} });
    byDefinition.set(definition, list);
  }
  return byDefinition;
}

/** The seed's versions as the retention rules read them, by `definition/version`. */
function seededSnapshots(seed: ReturnType<typeof seedBody>): Map<string, VersionSnapshot> {
  return new Map(
    seed.imageVersions.map((v) => [
      `${v.imageDefinition}/${v.name}`,
      {
        name: v.name,
        publishedDate: new Date(v.createdAt),
        endOfLifeDate: new Date(v.properties.publishingProfile.endOfLifeDate),
        excludeFromLatest: v.properties.publishingProfile.excludeFromLatest,
        provisioningState: "Succeeded",
        tags: v.tags,
        targetRegions: v.properties.publishingProfile.targetRegions,
      },
    ]),
  );
}

function deltaOf(after: ArmCounters, before: ArmCounters) {
  return {
    reads: after.reads - before.reads,
    deletes: after.deletes - before.deletes,
    writes: after.writes - before.writes,
    throttled: after.throttled - before.throttled,
  };
}

async function main(): Promise<void> {
  const command = `npm run bench:prune -- --definitions ${scenario.definitions} --due ${scenario.due} --budget ${scenario.timeBudgetInSeconds}`;
  console.log(command);
  const arm = await startBenchArm();
  try {
    await armAdmin(arm, "PUT", "config", { pageSize: scenario.pageSize, deleteDurationInMs: 1000 });
    await armAdmin(arm, "PUT", "throttling", { enabled: false });
    const seed = seedBody(Date.now());
    const seeded = seededSnapshots(seed);
    await armAdmin(arm, "POST", "seed", seed);
    await armAdmin(arm, "PUT", "faults", { latencyInMs: scenario.latencyInMs });
    await armAdmin(arm, "PUT", "throttling", scenario.throttling);
    await armAdmin(arm, "POST", "counters/reset");

    const catalog = catalogOf();
    const settings = parseSettings({
      AZURE_SUBSCRIPTION_ID: subscriptionId,
      IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
      IMAGE_BUILDER_IDENTITY_ID: `/subscriptions/${subscriptionId}/resourceGroups/rg-image-pipeline/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-image-builder`,
      ServiceBusConnection: "unused",
      ARM_ENDPOINT: arm.endpoint,
      ARM_AUTH: "emulator",
      ARM_CA_CERT_PATH: arm.caCertPath,
      PRUNE_TIME_BUDGET_IN_SECONDS: String(scenario.timeBudgetInSeconds),
    });
    const pipeline = createPipeline(settings, { catalogReader: new MemoryCatalogReader(catalog) });
    const lines = { info: 0, warn: 0, error: 0 };
    const log = createLogger({
      info: () => void lines.info++,
      warn: () => void lines.warn++,
      error: () => void lines.error++,
    });
    const deps = await pipeline.deps(log);

    const dueAtStart = scenario.definitions * scenario.due;
    const runs: {
      run: number;
      wallInMs: number;
      deleted: number;
      deferred: number;
      errors: number;
      stoppedAtBudget: boolean;
      reads: number;
      deletes: number;
      throttled: number;
      imagesWithADeletion: number;
      violations: string[];
    }[] = [];
    const deletedPerImage = new Map<string, number>();
    const started = performance.now();
    let before = await gallerySnapshot(arm, seeded);
    let countersBefore = await readCounters(arm);
    for (let run = 1; run <= scenario.maxRuns; run++) {
      const runStarted = performance.now();
      const result = await withDeadline(`prune run ${run}`, 15 * 60_000, pruneVersions(deps));
      const wallInMs = Math.round(performance.now() - runStarted);
      const counters = await readCounters(arm);
      const after = await gallerySnapshot(arm, seeded);

      // The invariants: every version gone was one the rules allowed to delete before this run, with every due one
      // counted (budget aside); every version they protected is still there.
      const violations: string[] = [];
      const now = new Date();
      for (const image of catalog.images) {
        const was = before.get(image.definition.name) ?? [];
        const is = new Set((after.get(image.definition.name) ?? []).map((v) => v.name));
        const allowed = new Set(
          planRetention({
            versions: was,
            policy: { ...image.retention, maxDeletionsPerRun: Number.MAX_SAFE_INTEGER },
            now,
          }).deletions.map((d) => d.version),
        );
        const plan = planRetention({ versions: was, policy: image.retention, now });
        for (const v of was) {
          const gone =
            !is.has(v.name) ||
            (after.get(image.definition.name) ?? []).some(
              (a) => a.name === v.name && a.provisioningState === "Deleting",
            );
          if (gone && !allowed.has(v.name)) violations.push(`${image.name}@${v.name} deleted but protected`);
        }
        for (const kept of plan.kept) {
          if (kept.code !== "budget-exhausted" && !is.has(kept.version)) {
            violations.push(`${image.name}@${kept.version} (${kept.code}) gone`);
          }
        }
      }
      const deleted = result.images.reduce((n, r) => n + r.deleted.length, 0);
      for (const r of result.images) {
        if (r.deleted.length > 0) deletedPerImage.set(r.image, (deletedPerImage.get(r.image) ?? 0) + r.deleted.length);
      }
      const delta = deltaOf(counters, countersBefore);
      runs.push({
        run,
        wallInMs,
        deleted,
        deferred: result.images.reduce((n, r) => n + r.deferred.length, 0),
        errors: result.images.reduce((n, r) => n + r.errors.length, 0) + result.failedImages.length,
        stoppedAtBudget: result.stoppedAtBudget,
        reads: delta.reads,
        deletes: delta.deletes,
        throttled: delta.throttled,
        imagesWithADeletion: result.images.filter((r) => r.deleted.length > 0).length,
        violations,
      });
      console.log(
        `run ${run}: ${deleted} deleted, ${runs.at(-1)!.deferred} deferred, ${runs.at(-1)!.errors} errors, ` +
          `${(wallInMs / 1000).toFixed(0)} s, ${delta.reads} reads, ${delta.deletes} deletes, ${delta.throttled} 429s, ` +
          `${violations.length} violations`,
      );
      before = after;
      countersBefore = counters;
      if (deleted === 0) break;
      // Versions being deleted are gone before the next run starts (deleteDurationInMs).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      before = await gallerySnapshot(arm, seeded);
    }
    const cleanInMs = Math.round(performance.now() - started);
    const remaining = [...before.values()].reduce((n, vs) => n + vs.length, 0);
    const runsThatDeleted = runs.filter((r) => r.deleted > 0);
    const perRunDeletions = runsThatDeleted.map((r) => r.deleted);
    const violations = runs.flatMap((r) => r.violations);
    // Fairness: by the end of each run, how far apart images were.
    const perImage = [...deletedPerImage.values()];

    console.log(
      table([
        ["figure", "value"],
        ["images x deletions due", `${scenario.definitions} x ${scenario.due} = ${dueAtStart}`],
        ["runs that deleted (and the last, empty one)", `${runsThatDeleted.length} (+1)`],
        ["deletions per run", perRunDeletions.join(", ")],
        ["wall time per run (s)", runs.map((r) => (r.wallInMs / 1000).toFixed(0)).join(", ")],
        ["time to clean, runs back to back (s)", (cleanInMs / 1000).toFixed(0)],
        ["versions left (kept: 2 per image)", remaining],
        ["retention invariant violations", violations.length],
        ["429s", runs.reduce((n, r) => n + r.throttled, 0)],
        [
          "longest run / function timeout",
          ratio(Math.max(...runs.map((r) => r.wallInMs)), scenario.functionTimeoutInSeconds * 1000),
        ],
      ]),
    );
    const file = writeResult("prune", command, {
      scenario,
      dueAtStart,
      runs,
      runsThatDeleted: runsThatDeleted.length,
      timeToCleanInMs: cleanInMs,
      versionsLeft: remaining,
      violations,
      deletionsPerImage: distribution(perImage),
      logLines: lines,
      notes: [
        "Real time on the ARM emulator with ARM's buckets (deletes 200 burst, 10/s; reads 250, 25/s) and 20 ms latency; no simulated clock.",
        "Each run is one pruneVersions call with the default budget (PRUNE_TIME_BUDGET_IN_SECONDS=480) and pacing (ARM_MAX_READS_PER_SECOND=20, ARM_MAX_WRITES_PER_SECOND=8, deletes paced apart at the same rate); runs follow each other at once, so 'time to clean' is ARM time, not calendar time: with the default daily PRUNE_SCHEDULE the same runs take that many days.",
        "Invariants per run: every version gone was deletable by the retention rules before the run (budget aside), and every version the rules kept for a reason other than the budget is still there.",
      ],
    });
    console.log(`results: ${file}`);
  } finally {
    await arm.dispose();
  }
}

await main();
