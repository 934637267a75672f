/**
 * Part 1 of the benchmarks (issue 8): one replication sweep and one prune sweep of the pipeline, with its real
 * adapters and default pacing, against a gallery at Compute Gallery's limits (1,000 definitions x 10 versions) on the
 * ARM emulator with 20 ms latency and ARM's real token buckets; and, on the same gallery, a naive sweep written
 * directly on the SDK. Prints a table and writes bench/results/sweep.json.
 *
 * `npm run bench:sweep [-- --definitions 100]` (a smaller gallery for a quick look; results say which was run).
 */
import { ComputeManagementClient } from "@azure/arm-compute";
import type { ArmEmulator } from "../local/arm/index.js";
import { armAdmin } from "../local/armAdmin.js";
import { catalogSchema, type Catalog } from "../shared/catalog/schema.js";
import { createPipeline } from "../functions/composition.js";
import { MemoryCatalogReader } from "../test/fakes/catalogReader.js";
import { parseSettings } from "../shared/config/settings.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import { createLogger } from "../shared/observability/logger.js";
import { monitorReplication } from "../shared/usecases/monitorReplication.js";
import { pruneVersions } from "../shared/usecases/pruneVersions.js";
import { armTokenBuckets, countOf, readCounters, startBenchArm, type ArmCounters } from "./lib/arm.js";
import { ratio, table } from "./lib/stats.js";
import { withDeadline, writeResult } from "./lib/results.js";

const subscriptionId = "00000000-0000-0000-0000-000000000000";
const galleryResourceGroup = "rg-golden-images";
const galleryName = "acg_bench";
const builderResourceGroup = "rg-image-builder";
const identityId = `/subscriptions/${subscriptionId}/resourceGroups/rg-image-pipeline/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-image-builder`;
const targetRegions = ["westeurope", "northeurope"];
const dayInMs = 86_400_000;

/** The scenario; every figure in the results is relative to it. */
const scenario = {
  definitions: 1000,
  versionsPerDefinition: 10,
  latencyInMs: 20,
  throttling: { enabled: true, ...armTokenBuckets },
  pageSize: 100,
  naiveConcurrency: 8,
  /** host.json functionTimeout; the Consumption plan's maximum. */
  functionTimeoutInMinutes: 10,
  retention: { keepLatest: 3, minAgeDays: 7, maxDeletionsPerRun: 10, endOfLifeDays: 90 },
};

/** What each definition holds: its newest version's state depends on the definition's index. */
type NewestState = "replicating" | "failedRegion" | "replicated" | "promoted";
function newestStateOf(d: number): NewestState {
  if (d % 10 === 0) return "replicating";
  if (d % 50 === 5) return "failedRegion";
  if (d % 50 === 25) return "replicated";
  return "promoted";
}

const definitionName = (d: number) => `image-${String(d).padStart(4, "0")}`;

/**
 * The gallery as the pipeline leaves it: per definition, 1.0.0 expired (published 200 days ago, end of life 100 days
 * ago), 1.0.1-1.0.8 promoted (end of life ahead), 1.0.9 promoted or, for some definitions, still in flight: tagged
 * `replicating` and either replicating, with a failed region, or replicated and awaiting promotion. In-flight
 * versions have their staging managed image.
 */
function seedBody(definitions: number, nowMs: number) {
  const newest = scenario.versionsPerDefinition - 1;
  const iso = (ms: number) => new Date(ms).toISOString();
  const imageDefinitions = [];
  const imageVersions = [];
  for (let d = 0; d < definitions; d++) {
    const name = definitionName(d);
    imageDefinitions.push({
      resourceGroup: galleryResourceGroup,
      gallery: galleryName,
      name,
      properties: {
        osType: "Linux",
        osState: "Generalized",
        hyperVGeneration: "V2",
        identifier: { publisher: "contoso", offer: "bench", sku: name },
      },
    });
    for (let v = 0; v < scenario.versionsPerDefinition; v++) {
      const inFlight = v === newest && newestStateOf(d) !== "promoted";
      const createdAtMs = v === 0 ? nowMs - 200 * dayInMs : nowMs - (newest - v) * 7 * dayInMs - 3_600_000;
      const endOfLifeMs = v === 0 ? nowMs - 100 * dayInMs : createdAtMs + scenario.retention.endOfLifeDays * dayInMs;
      const buildId = `b${String(d).padStart(4, "0")}v${v}`;
      const tags: Record<string, string> = {
        [tagNames.managedBy]: managedByValue,
        [tagNames.state]: inFlight ? "replicating" : "promoted",
        [tagNames.buildId]: buildId,
        [tagNames.image]: name,
        [tagNames.version]: `1.0.${v}`,
      };
      if (inFlight) {
        tags[tagNames.templateName] = `${name}-1.0.${v}`;
      }
      const state = newestStateOf(d);
      imageVersions.push({
        resourceGroup: galleryResourceGroup,
        gallery: galleryName,
        imageDefinition: name,
        name: `1.0.${v}`,
        location: "westeurope",
        tags,
        properties: {
          publishingProfile: {
            targetRegions: targetRegions.map((r) => ({ name: r })),
            excludeFromLatest: inFlight,
            endOfLifeDate: iso(endOfLifeMs),
          },
          safetyProfile: { blockDeletionBeforeEndOfLife: false },
        },
        createdAt: iso(inFlight ? nowMs - 20 * 60_000 : createdAtMs),
        ...(inFlight && state === "replicating"
          ? { replicatingRegions: ["northeurope"], remainingInMs: 3_600_000 }
          : {}),
        ...(inFlight && state === "failedRegion" ? { failedRegions: ["northeurope"] } : {}),
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

/** The catalog that matches the seeded gallery, parsed so that defaults apply. */
function catalogOf(definitions: number): Catalog {
  return catalogSchema.parse({
    images: Array.from({ length: definitions }, (_, d) => ({
      name: definitionName(d),
      gallery: { resourceGroup: galleryResourceGroup, name: galleryName },
      definition: { publisher: "contoso", offer: "bench", sku: definitionName(d), osType: "Linux" },
      source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
      customize: [{ type: "Shell", name: "update", inline: ["sudo apt-get update"] }],
      build: { location: "westeurope" },
      distribution: { targetRegions: targetRegions.map((name) => ({ name })) },
      versioning: { scheme: "semver", major: 1, minor: 0 },
      retention: scenario.retention,
    })),
  });
}

/** Puts the emulator back to the seeded gallery, with latency and throttling on and counters at zero. */
async function prepare(arm: ArmEmulator, seed: object): Promise<void> {
  await armAdmin(arm, "POST", "reset");
  await armAdmin(arm, "PUT", "config", { pageSize: scenario.pageSize });
  await armAdmin(arm, "POST", "seed", seed);
  await armAdmin(arm, "PUT", "faults", { latencyInMs: scenario.latencyInMs });
  await armAdmin(arm, "PUT", "throttling", scenario.throttling);
  await armAdmin(arm, "POST", "counters/reset");
}

/** Runs `work` on a freshly prepared emulator and reports the emulator's counters and the wall time. */
async function measure<T>(arm: ArmEmulator, seed: object, what: string, work: () => Promise<T>) {
  await prepare(arm, seed);
  const started = performance.now();
  const outcome = await withDeadline(what, 20 * 60_000, work());
  const wallInMs = performance.now() - started;
  const counters = await readCounters(arm);
  return { outcome, wallInMs, counters };
}

/** Runs `worker` over `items` with at most `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (next < items.length) await worker(items[next++]!);
  });
  await Promise.all(lanes);
}

/**
 * The sweep anyone would write first: list the definitions, list each one's versions, read every version's
 * replication status, delete what is past end of life; 8 definitions at a time, the SDK's default retry policy
 * (3 retries, honouring Retry-After) for 429s, each delete awaited as the SDK's examples do.
 */
async function naiveSweep(arm: ArmEmulator) {
  const credential = { getToken: async () => ({ token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const client = new ComputeManagementClient(credential, subscriptionId, {
    endpoint: arm.endpoint,
    tlsOptions: { ca: arm.caCertPem },
  });
  const now = Date.now();
  const errors: Record<string, number> = {};
  const failed = (error: unknown) => {
    const key = String((error as { statusCode?: number }).statusCode ?? (error as Error).message);
    errors[key] = (errors[key] ?? 0) + 1;
  };
  let statusReads = 0;
  let deleted = 0;
  const definitions: string[] = [];
  for await (const d of client.galleryImages.listByGallery(galleryResourceGroup, galleryName)) {
    definitions.push(d.name ?? "");
  }
  await pool(definitions, scenario.naiveConcurrency, async (definition) => {
    const versions: string[] = [];
    try {
      for await (const v of client.galleryImageVersions.listByGalleryImage(
        galleryResourceGroup,
        galleryName,
        definition,
      )) {
        versions.push(v.name ?? "");
      }
    } catch (error) {
      failed(error);
      return;
    }
    for (const version of versions) {
      try {
        const v = await client.galleryImageVersions.get(galleryResourceGroup, galleryName, definition, version, {
          expand: "ReplicationStatus",
        });
        statusReads++;
        const endOfLife = v.publishingProfile?.endOfLifeDate?.getTime();
        if (endOfLife !== undefined && endOfLife < now) {
          await client.galleryImageVersions.delete(galleryResourceGroup, galleryName, definition, version);
          deleted++;
        }
      } catch (error) {
        failed(error);
      }
    }
  });
  return { definitions: definitions.length, statusReads, deleted, errors };
}

/** Settings of the pipeline on the emulator: the default pacing (nothing about ARM_MAX_* is set). */
function pipelineSettings(arm: ArmEmulator) {
  return parseSettings({
    AZURE_SUBSCRIPTION_ID: subscriptionId,
    IMAGE_BUILDER_RESOURCE_GROUP: builderResourceGroup,
    IMAGE_BUILDER_IDENTITY_ID: identityId,
    // The sweeps send no message; the sender connects only on first send.
    ServiceBusConnection: "unused",
    ARM_ENDPOINT: arm.endpoint,
    ARM_AUTH: "emulator",
    ARM_CA_CERT_PATH: arm.caCertPath,
  });
}

/** A logger that formats every line as in Azure (the cost counts) and keeps only the count. */
function countingLogger() {
  const lines = { info: 0, warn: 0, error: 0 };
  const log = createLogger({
    info: () => void lines.info++,
    warn: () => void lines.warn++,
    error: () => void lines.error++,
  });
  return { log, lines };
}

function parseArgs(argv: readonly string[]) {
  const i = argv.indexOf("--definitions");
  const definitions = i >= 0 ? Number(argv[i + 1]) : scenario.definitions;
  if (!Number.isInteger(definitions) || definitions < 10 || definitions > 1000) {
    throw new Error("--definitions must be an integer from 10 to 1000 (Compute Gallery's limit per region)");
  }
  return { definitions };
}

/** A client's or ARM's token buckets: what bounds a run's wall time from below. */
interface RateLimit {
  reads: { burst: number; perSecond: number };
  writes: { burst: number; perSecond: number };
}

interface RunReport {
  run: string;
  reads: number;
  writes: number;
  deletes: number;
  throttled: number;
  minimumReads: number;
  minimumReadsFormula: string;
  readsOverMinimum: number;
  wallInMs: number;
  wallOverFunctionTimeout: number;
  /** The least time the rate limit allows for these requests: max((reads - burst) / rate, (writes + deletes - burst) / rate). */
  pacingBoundInMs: number;
  wallOverPacingBound: number;
  /** Reads by kind: list pages, version GETs, long-running-operation polls. */
  readsByKind: { listPages: number; versionGets: number; operationPolls: number };
  operations: Record<string, number>;
  outcome: unknown;
}

function report(
  run: string,
  measured: { wallInMs: number; counters: ArmCounters; outcome: unknown },
  minimumReads: number,
  minimumReadsFormula: string,
  limit: RateLimit,
): RunReport {
  const { counters, wallInMs } = measured;
  const seconds = (requests: number, bucket: { burst: number; perSecond: number }) =>
    Math.max(0, requests - bucket.burst) / bucket.perSecond;
  // Throttled requests take no token.
  const pacingBoundInMs =
    Math.max(
      seconds(counters.reads - counters.throttled, limit.reads),
      seconds(counters.writes + counters.deletes, limit.writes),
    ) * 1000;
  return {
    run,
    reads: counters.reads,
    writes: counters.writes,
    deletes: counters.deletes,
    throttled: counters.throttled,
    minimumReads,
    minimumReadsFormula,
    readsOverMinimum: ratio(counters.reads, minimumReads),
    wallInMs: Math.round(wallInMs),
    wallOverFunctionTimeout: ratio(wallInMs, scenario.functionTimeoutInMinutes * 60_000),
    pacingBoundInMs: Math.round(pacingBoundInMs),
    wallOverPacingBound: ratio(wallInMs, pacingBoundInMs),
    readsByKind: {
      listPages: countOf(counters, /_List/),
      versionGets: countOf(counters, /^GalleryImageVersions_Get$/),
      operationPolls: countOf(counters, /OperationStatus_Get$/),
    },
    operations: counters.operations,
    outcome: measured.outcome,
  };
}

async function main() {
  const { definitions } = parseArgs(process.argv.slice(2));
  const command = `npm run bench:sweep${definitions === scenario.definitions ? "" : ` -- --definitions ${definitions}`}`;
  const seed = seedBody(definitions, Date.now());
  const catalog = catalogOf(definitions);
  const inFlight = seed.imageVersions.filter((v) => v.tags[tagNames.state] === "replicating").length;
  const expired = definitions; // 1.0.0 of every definition
  const arm = await startBenchArm();
  try {
    const settings = pipelineSettings(arm);
    // The pipeline's pacers: burst = rate (shared/adapters/armClients.ts).
    const reads = settings.ARM_MAX_READS_PER_SECOND;
    const writes = settings.ARM_MAX_WRITES_PER_SECOND;
    const pacing: RateLimit = {
      reads: { burst: reads, perSecond: reads },
      writes: { burst: writes, perSecond: writes },
    };
    const runPipeline = async <T>(
      work: (deps: Awaited<ReturnType<ReturnType<typeof createPipeline>["deps"]>>) => Promise<T>,
    ) => {
      // A fresh pipeline per run: a new Functions instance, its pacers full.
      const pipeline = createPipeline(settings, { catalogReader: new MemoryCatalogReader(catalog) });
      const { log, lines } = countingLogger();
      try {
        return { result: await work(await pipeline.deps(log)), logLines: lines };
      } finally {
        await pipeline.close();
      }
    };

    console.log(
      `sweep: ${definitions} definitions x ${scenario.versionsPerDefinition} versions, ${inFlight} in flight`,
    );
    const monitor = await measure(arm, seed, "pipeline replication sweep", () =>
      runPipeline(async (deps) => {
        const r = await monitorReplication(deps);
        return { checked: r.checked, promoted: r.promoted.length, retried: r.retried.length, failed: r.failed.length };
      }),
    );
    console.log(`  replication sweep done in ${Math.round(monitor.wallInMs)} ms`);
    const prune = await measure(arm, seed, "pipeline prune sweep", () =>
      runPipeline(async (deps) => {
        const r = await pruneVersions(deps);
        return {
          deleted: r.images.reduce((n, i) => n + i.deleted.length, 0),
          errors: r.images.reduce((n, i) => n + i.errors.length, 0) + r.failedImages.length,
        };
      }),
    );
    console.log(`  prune sweep done in ${Math.round(prune.wallInMs)} ms`);
    const naive = await measure(arm, seed, "naive sweep", () => naiveSweep(arm));
    console.log(`  naive sweep done in ${Math.round(naive.wallInMs)} ms`);

    const runs = [
      report(
        "pipeline: monitorReplication",
        monitor,
        definitions + inFlight + 1,
        `${definitions} version lists + ${inFlight} status reads (versions in flight) + 1 template list`,
        pacing,
      ),
      report("pipeline: pruneVersions", prune, definitions, `${definitions} version lists`, pacing),
      report(
        "naive: SDK, 8 in flight",
        naive,
        definitions + inFlight,
        `${definitions} version lists + ${inFlight} status reads (the same work as both sweeps, in one pass)`,
        // Writes and deletes have separate buckets at ARM; the naive run only deletes.
        { reads: armTokenBuckets.reads, writes: armTokenBuckets.deletes },
      ),
    ];
    const pipelineBoth = {
      wallOverNaive: ratio(monitor.wallInMs + prune.wallInMs, naive.wallInMs),
      readsOverNaive: ratio(monitor.counters.reads + prune.counters.reads, naive.counters.reads),
    };
    const monitorRun = runs[0]!;
    const pruneRun = runs[1]!;
    const targets = {
      readsWithin1_05xMinimum: monitorRun.readsOverMinimum <= 1.05 && pruneRun.readsOverMinimum <= 1.05,
      zero429s: monitorRun.throttled === 0 && pruneRun.throttled === 0,
      eachSweepWithin10Minutes: monitorRun.wallOverFunctionTimeout <= 1 && pruneRun.wallOverFunctionTimeout <= 1,
    };

    console.log(`\n${command}`);
    console.log(
      table([
        ["run", "reads", "writes", "deletes", "429s", "min reads", "reads/min", "wall/10 min", "wall/pacing bound"],
        ...runs.map((r) => [
          r.run,
          r.reads,
          r.writes,
          r.deletes,
          r.throttled,
          r.minimumReads,
          r.readsOverMinimum,
          r.wallOverFunctionTimeout,
          r.wallOverPacingBound,
        ]),
      ]),
    );
    console.log(
      table([
        ["reads by kind", "list pages", "version GETs", "operation polls"],
        ...runs.map((r) => [r.run, r.readsByKind.listPages, r.readsByKind.versionGets, r.readsByKind.operationPolls]),
      ]),
    );
    console.log(
      `pipeline (both sweeps) / naive: wall ${pipelineBoth.wallOverNaive}, reads ${pipelineBoth.readsOverNaive}`,
    );
    console.log(`targets: ${JSON.stringify(targets)}`);
    const file = writeResult("sweep", command, {
      scenario: { ...scenario, definitions, inFlight, expired, versions: seed.imageVersions.length },
      runs,
      pipelineBoth,
      targets,
      notes: [
        "reads/writes/deletes are the emulator's counters (every ARM request it received, throttled ones included).",
        "wall/10 min: wall time over host.json functionTimeout (the Consumption plan's maximum).",
        "wall/pacing bound: wall time over the least time the client-side pacing (or, for the naive run, ARM's refill rates) allows for the requests made.",
      ],
    });
    console.log(`results: ${file}`);
  } finally {
    await arm.dispose();
  }
}

await main();
