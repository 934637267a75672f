/**
 * Part 3 of the benchmarks (issue 8): 50 concurrent builds through the local stack (both emulators and the local
 * Functions host running the app's function table) with near-zero simulated Image Builder and replication
 * durations. Per build: messages sent, ARM calls by operation against the minimum a build needs, and the time from
 * the webhook to the published version and to promotion. Prints tables and writes bench/results/overhead.json.
 *
 * `npm run bench:overhead [-- --builds 50]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../local/armAdmin.js";
import { provisionGalleries } from "../local/provision.js";
import { localAzure } from "../local/settings.js";
import { startLocalStack, type LocalStack } from "../local/stack.js";
import { catalogSchema, type Catalog } from "../shared/catalog/schema.js";
import { tagNames } from "../shared/domain/names.js";
import type { GalleryClient, MessageSender } from "../shared/ports.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import { armTokenBuckets, readCounters, type ArmCounters } from "./lib/arm.js";
import { distribution, ratio, table } from "./lib/stats.js";
import { withDeadline, writeResult } from "./lib/results.js";

const galleryResourceGroup = "rg-golden-images";
const galleryName = "acg_overhead";
const targetRegions = ["westeurope", "northeurope"];
/** The shortest delays the settings allow (whole seconds): the watch waits this long before its first check. */
const delays = {
  BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: "1",
  BUILD_WATCH_MAX_DELAY_IN_SECONDS: "1",
  BUILD_REQUEUE_DELAY_IN_SECONDS: "1",
};

/**
 * The fewest ARM calls one build needs on its path (bench/README.md, section 3, derives each): the first build of an
 * image, whose run has ended by its second check and whose version has replicated by the first replication sweep.
 * Image Builder distributes into the gallery, so no version is created by the pipeline and no staging image exists.
 */
const minimumCallsPerBuild: Record<string, { calls: number; why: string }> = {
  VirtualMachineImageTemplates_ListByResourceGroup: {
    calls: 1,
    why: "startBuild: another build of the image in flight?",
  },
  GalleryImages_Get: { calls: 1, why: "startBuild: the definition exists? its failures, its region" },
  GalleryImages_CreateOrUpdate: { calls: 1, why: "create the definition (first build of an image)" },
  ComputeOperationStatus_Get: { calls: 1, why: "the definition is provisioned before a template targets it" },
  VirtualMachineImages_List: { calls: 1, why: "resolve the source's `latest` version" },
  VirtualMachineImages_Get: { calls: 1, why: "the source's generation, OS, security type" },
  VirtualMachineImageTemplates_CreateOrUpdate: { calls: 1, why: "create the template" },
  VirtualMachineImageTemplates_Get: { calls: 2, why: "provisioned? (a run is refused before); the run ended" },
  VirtualMachineImageTemplates_Run: { calls: 1, why: "run it" },
  GalleryImageVersions_Get: { calls: 2, why: "publish: owner and state before the update; one replication status" },
  GalleryImageVersions_Update: { calls: 2, why: "add the other regions; promote" },
  GalleryImageVersions_ListByGalleryImage: { calls: 1, why: "the sweep finds the versions in flight" },
  VirtualMachineImageTemplates_Delete: { calls: 1, why: "delete the template" },
};

const imageName = (i: number) => `bench-${String(i).padStart(3, "0")}`;

function catalogOf(builds: number): Catalog {
  return catalogSchema.parse({
    images: Array.from({ length: builds }, (_, i) => ({
      name: imageName(i),
      gallery: { resourceGroup: galleryResourceGroup, name: galleryName },
      definition: { publisher: "contoso", offer: "overhead", sku: imageName(i), osType: "Linux" },
      source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
      customize: [{ type: "Shell", name: "update", inline: ["sudo apt-get update"] }],
      build: { location: "westeurope" },
      distribution: { targetRegions: targetRegions.map((name) => ({ name })) },
      versioning: { scheme: "semver", major: 1, minor: 0 },
    })),
  });
}

/** What the bench observed of the builds, by build id. */
interface Observations {
  messages: Map<string, Record<string, number>>;
  publishedAt: Map<string, number>;
  promotedAt: Map<string, number>;
}

/** Wraps an object so that the named methods are replaced and every other member still works on the original. */
function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value = Reflect.get(object, property, object) as unknown;
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

/**
 * The pipeline's dependencies with the message sender and two gallery calls observed: every message counted under
 * its build, the time a build's version was created and the time it was promoted. Nothing else changes.
 */
function observe(deps: PipelineDeps, seen: Observations): PipelineDeps {
  const bus: MessageSender = {
    async send(queue, body, options) {
      await deps.bus.send(queue, body, options);
      // An event names its build in its data.
      const buildId = String("data" in body ? (body.data as { buildId?: string }).buildId : body.buildId);
      const counts = seen.messages.get(buildId) ?? {};
      counts[queue] = (counts[queue] ?? 0) + 1;
      seen.messages.set(buildId, counts);
    },
  };
  const gallery = withOverrides<GalleryClient>(deps.gallery, {
    async updateVersion(ref, version, update, options) {
      await deps.gallery.updateVersion(ref, version, update, options);
      const buildId = update.tags?.[tagNames.buildId];
      // Publication is the update that takes over the version Image Builder distributed.
      if (buildId && update.tags?.[tagNames.state] === "replicating" && !seen.publishedAt.has(buildId)) {
        seen.publishedAt.set(buildId, performance.now());
      }
      if (buildId && update.tags?.[tagNames.state] === "promoted") seen.promotedAt.set(buildId, performance.now());
    },
  });
  return { ...deps, bus, gallery };
}

async function until(what: string, timeoutInMs: number, done: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutInMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function difference(after: ArmCounters, before: ArmCounters): Record<string, number> {
  const operations: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.operations)) {
    const d = n - (before.operations[name] ?? 0);
    if (d > 0) operations[name] = d;
  }
  return operations;
}

function parseBuilds(argv: readonly string[]): number {
  const i = argv.indexOf("--builds");
  const builds = i >= 0 ? Number(argv[i + 1]) : 50;
  if (!Number.isInteger(builds) || builds < 1 || builds > 200) throw new Error("--builds must be from 1 to 200");
  return builds;
}

async function main() {
  const count = parseBuilds(process.argv.slice(2));
  const command = `npm run bench:overhead${count === 50 ? "" : ` -- --builds ${count}`}`;
  const catalog = catalogOf(count);
  const stateDir = mkdtempSync(path.join(tmpdir(), "bench-overhead-"));
  const hostLines = { info: 0, warn: 0, error: 0 };
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      stateDir,
      catalog,
      timers: false,
      overrides: delays,
      logger: (record) => {
        if (record.level === "error" || record.level === "critical") hostLines.error++;
        else if (record.level === "warning") hostLines.warn++;
        else hostLines.info++;
      },
    });
    const s = stack;
    await configureSimulation(s.arm, { ...instantSimulation, ...withoutThrottling });
    await provisionGalleries(s.arm, catalog);
    await armAdmin(s.arm, "PUT", "throttling", { enabled: true, ...armTokenBuckets });
    await armAdmin(s.arm, "POST", "counters/reset");

    const seen: Observations = { messages: new Map(), publishedAt: new Map(), promotedAt: new Map() };
    const real = s.pipeline;
    s.replacePipeline({ ...real, deps: async (log, expectation) => observe(await real.deps(log, expectation), seen) });

    console.log(`overhead: ${count} concurrent builds through the local stack`);
    const started = performance.now();
    const requests = await withDeadline(
      "webhook requests",
      60_000,
      Promise.all(
        catalog.images.map(async (image, i) => {
          const requestedAt = performance.now();
          const response = await fetch(`${s.host.url}/api/builds`, {
            method: "POST",
            headers: { "x-functions-key": localAzure.functionKey, "content-type": "application/json" },
            body: JSON.stringify({ image: image.name, commit: (0xabc0000 + i).toString(16), reason: "push" }),
          });
          const body = (await response.json()) as { buildId?: string };
          if (response.status !== 202 || !body.buildId) {
            throw new Error(`POST /api/builds for ${image.name}: ${response.status} ${JSON.stringify(body)}`);
          }
          return { buildId: body.buildId, image: image.name, requestedAt, acceptedAt: performance.now() };
        }),
      ),
    );
    const buildIds = requests.map((r) => r.buildId);
    if (new Set(buildIds).size !== count) throw new Error("two requests were given the same build id");
    await until("every build to publish its version", 5 * 60_000, () =>
      buildIds.every((id) => seen.publishedAt.has(id)),
    );
    const publishedAll = performance.now();
    const afterPublish = await readCounters(s.arm);

    // Promotion is the replication monitor's: fire its timer until every version is promoted.
    const sweepStartedAt = performance.now();
    let sweeps = 0;
    while (!buildIds.every((id) => seen.promotedAt.has(id))) {
      if (++sweeps > 10) throw new Error("versions still not promoted after 10 replication sweeps");
      await withDeadline("replication sweep", 120_000, s.host.invokeTimer("monitorReplication"));
    }
    const afterPromote = await readCounters(s.arm);
    const leftovers = await armAdmin<{ counts: Record<string, number> }>(
      s.arm,
      "GET",
      `resources?resourceGroup=${localAzure.imageBuilderResourceGroup}`,
    );

    const timelines = requests.map((r) => ({
      ...r,
      publishedAt: seen.publishedAt.get(r.buildId)!,
      promotedAt: seen.promotedAt.get(r.buildId)!,
      messages: seen.messages.get(r.buildId) ?? {},
    }));
    const otherMessages = [...seen.messages.keys()].filter((id) => !buildIds.includes(id)).length;
    const messagesPerBuild = timelines.map((b) => Object.values(b.messages).reduce((n, m) => n + m, 0));
    const queues = [...new Set(timelines.flatMap((b) => Object.keys(b.messages)))].sort();

    const phase1 = afterPublish.operations;
    const phase2 = difference(afterPromote, afterPublish);
    const operations = [...new Set([...Object.keys(afterPromote.operations), ...Object.keys(minimumCallsPerBuild)])];
    const perBuild = operations
      .map((name) => {
        const total = afterPromote.operations[name] ?? 0;
        return {
          operation: name,
          toPublish: ratio(phase1[name] ?? 0, count),
          toPromote: ratio(phase2[name] ?? 0, count),
          perBuild: ratio(total, count),
          minimum: minimumCallsPerBuild[name]?.calls ?? 0,
          why: minimumCallsPerBuild[name]?.why ?? "",
        };
      })
      .sort((a, b) => b.perBuild - a.perBuild);
    const minimumTotal = Object.values(minimumCallsPerBuild).reduce((n, m) => n + m.calls, 0);
    const armPerBuild = ratio(afterPromote.total, count);

    const toPublish = timelines.map((b) => b.publishedAt - b.requestedAt);
    const accepted = timelines.map((b) => b.acceptedAt - b.requestedAt);
    const promotionInSweep = timelines.map((b) => b.promotedAt - sweepStartedAt);
    const toPromote = timelines.map((b) => b.promotedAt - b.requestedAt);
    const timings = {
      webhookAccepted: distribution(accepted),
      requestToPublished: distribution(toPublish),
      promotionAfterSweepStart: distribution(promotionInSweep),
      requestToPromoted: distribution(toPromote),
    };
    const phase1Reads = afterPublish.reads - afterPublish.throttled;
    const pacing = {
      // The pipeline's read pacer (20/s, burst 20) bounds how fast the builds' reads can go.
      publishPhaseInMs: Math.round(publishedAll - started),
      readsToPublish: afterPublish.reads,
      readPacingBoundInMs: Math.round((Math.max(0, phase1Reads - 20) / 20) * 1000),
    };

    console.log(`\n${command}`);
    console.log(
      table([
        ["ARM operation", "per build to publish", "per build to promote", "per build", "minimum", "why needed"],
        ...perBuild.map((p) => [p.operation, p.toPublish, p.toPromote, p.perBuild, p.minimum, p.why]),
        [
          "total",
          ratio(afterPublish.total, count),
          ratio(afterPromote.total - afterPublish.total, count),
          armPerBuild,
          minimumTotal,
          "",
        ],
      ]),
    );
    console.log(
      `ARM calls per build / minimum: ${ratio(afterPromote.total, count * minimumTotal)}; 429s: ${afterPromote.throttled}; replication sweeps: ${sweeps}`,
    );
    console.log(
      table([
        ["messages", ...queues, "total"],
        [
          "per build (p50)",
          ...queues.map((q) => distribution(timelines.map((b) => b.messages[q] ?? 0)).p50InMs),
          distribution(messagesPerBuild).p50InMs,
        ],
        [
          "per build (max)",
          ...queues.map((q) => distribution(timelines.map((b) => b.messages[q] ?? 0)).maxInMs),
          distribution(messagesPerBuild).maxInMs,
        ],
      ]),
    );
    if (otherMessages > 0) console.log(`messages of other builds: ${otherMessages}`);
    console.log(
      table([
        ["time (simulated work ~0)", "p50 ms", "p99 ms", "max ms"],
        ...Object.entries(timings).map(([k, d]) => [k, d.p50InMs, d.p99InMs, d.maxInMs]),
      ]),
    );
    console.log(
      `publish phase / read-pacing bound: ${ratio(pacing.publishPhaseInMs, pacing.readPacingBoundInMs)}; leftovers in ${localAzure.imageBuilderResourceGroup}: ${JSON.stringify(leftovers.counts)}`,
    );

    const file = writeResult("overhead", command, {
      builds: count,
      settings: { ...delays, simulation: "instantSimulation (0 ms phases and replication)", armLatencyInMs: 0 },
      arm: {
        perBuild,
        totalPerBuild: armPerBuild,
        minimumPerBuild: minimumTotal,
        overMinimum: ratio(afterPromote.total, count * minimumTotal),
        throttled: afterPromote.throttled,
        replicationSweeps: sweeps,
      },
      messages: {
        queues,
        perBuild: Object.fromEntries(queues.map((q) => [q, distribution(timelines.map((b) => b.messages[q] ?? 0))])),
        totalPerBuild: distribution(messagesPerBuild),
        messagesOfOtherBuilds: otherMessages,
      },
      timings,
      pacing,
      leftovers: leftovers.counts,
      hostLogLines: hostLines,
      notes: [
        "Messages are counted by wrapping the pipeline's message sender (the local stack's replacePipeline), by the buildId in their body; ARM calls by the emulator's counters.",
        "requestToPublished includes the configured watch delay (BUILD_WATCH_INITIAL_DELAY_IN_SECONDS=1, the smallest allowed).",
        "Promotion happens in the monitorReplication timer, fired by hand once every version was published.",
      ],
    });
    console.log(`results: ${file}`);
  } finally {
    await stack?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
