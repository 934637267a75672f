/**
 * Several host instances sharing ARM's subscription buckets (issue 16): 3 local Functions hosts on the same queues (as
 * Flex Consumption scales out; one runs the timers, as the timer's singleton lock does in Azure), a burst of 200
 * build requests (a base image update across 200 images) and the replication monitor's sweeps of a gallery of 1,000
 * definitions, against the ARM emulator with ARM's token buckets (Azure's numbers). No coordinator: each instance
 * paces itself from the `x-ms-ratelimit-remaining-subscription-*` headers ARM returns (shared/adapters/armPacing.ts).
 * The figures come from the emulator's counters. Prints a summary and writes bench/results/instances.json.
 *
 * `npm run bench:instances [-- --instances 3 --builds 200 --definitions 1000]`
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { armAdmin, configureSimulation } from "../local/armAdmin.js";
import { startAzurite, type Azurite } from "../local/azurite/index.js";
import { provisionCatalogContainer, provisionGalleries } from "../local/provision.js";
import { localAzure } from "../local/settings.js";
import { loadQueueConfig } from "../shared/config/queues.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import { deriveBuildId } from "../shared/messages/index.js";
import { aCatalogImageInput } from "../test/factories.js";
import {
  armSnapshot,
  briefSimulation,
  pipelineSettings,
  postBuild,
  publishTestCatalog,
  startArmProcess,
  startChildHost,
  startServiceBusProcess,
  terminalStateOf,
  type ChildHost,
  type EmulatorProcess,
} from "../test/reliability/support.js";
import { armTokenBuckets, type ArmCounters } from "./lib/arm.js";
import { distribution, ratio, table } from "./lib/stats.js";
import { withDeadline, writeResult } from "./lib/results.js";

const { values: argv } = parseArgs({
  options: {
    instances: { type: "string", default: "3" },
    builds: { type: "string", default: "200" },
    definitions: { type: "string", default: "1000" },
  },
});
const scenario = {
  instances: Number(argv.instances),
  builds: Number(argv.builds),
  definitions: Number(argv.definitions),
  versionsPerDefinition: 5,
  /** Every 10th definition's newest version is still replicating (an hour to go): one status read per sweep each. */
  replicatingEvery: 10,
  throttling: { enabled: true, ...armTokenBuckets },
  /** The deployed pacing of each instance (settings' defaults): 3 instances together ask for 60 reads/s. */
  pacing: { readsPerSecond: 20, writesPerSecond: 8 },
  monitorSchedule: "0 * * * * *",
};
if (scenario.builds > scenario.definitions) throw new Error("--builds cannot exceed --definitions");

const galleryResourceGroup = "rg-golden-images";
const galleryName = "acg_golden";
const imageName = (i: number) => `img-${String(i).padStart(4, "0")}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const dayInMs = 86_400_000;

/** The gallery the catalog describes: each definition with 5 promoted versions, every 10th with one still replicating. */
function seedBody(nowMs: number) {
  const imageDefinitions = [];
  const imageVersions = [];
  for (let d = 0; d < scenario.definitions; d++) {
    const name = imageName(d);
    imageDefinitions.push({
      resourceGroup: galleryResourceGroup,
      gallery: galleryName,
      name,
      properties: {
        osType: "Linux",
        osState: "Generalized",
        hyperVGeneration: "V2",
        architecture: "x64",
        features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }],
        identifier: { publisher: "contoso", offer: "instances", sku: name },
      },
    });
    for (let v = 0; v < scenario.versionsPerDefinition; v++) {
      const newest = v === scenario.versionsPerDefinition - 1;
      const inFlight = newest && d % scenario.replicatingEvery === 0;
      const createdAtMs = nowMs - (scenario.versionsPerDefinition - v) * 7 * dayInMs;
      imageVersions.push({
        resourceGroup: galleryResourceGroup,
        gallery: galleryName,
        imageDefinition: name,
        name: `1.0.${v}`,
        location: "westeurope",
        tags: {
          [tagNames.managedBy]: managedByValue,
          [tagNames.state]: inFlight ? "replicating" : "promoted",
          [tagNames.buildId]: `seed${String(d).padStart(4, "0")}v${v}`,
          [tagNames.image]: name,
          [tagNames.version]: `1.0.${v}`,
        },
        properties: {
          publishingProfile: {
            targetRegions: [{ name: "westeurope" }, { name: "northeurope" }],
            excludeFromLatest: inFlight,
            endOfLifeDate: new Date(createdAtMs + 90 * dayInMs).toISOString(),
          },
        },
        createdAt: new Date(inFlight ? nowMs - 10 * 60_000 : createdAtMs).toISOString(),
        ...(inFlight ? { replicatingRegions: ["northeurope"], remainingInMs: 3_600_000 } : {}),
      });
    }
  }
  return { subscriptionId: localAzure.subscriptionId, imageDefinitions, imageVersions };
}

/** One instance's share of the work, from its log. */
function invocationsOf(host: ChildHost) {
  const counts: Record<string, number> = {};
  let failed = 0;
  let throttledErrors = 0;
  for (const line of host.lines) {
    if (!line.startsWith("{")) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (r["event"] === "invocation.end") {
      const name = String(r["functionName"]);
      counts[name] = (counts[name] ?? 0) + 1;
      if (r["outcome"] !== "succeeded") failed++;
    }
    if (r["level"] === "error" && /\b429\b|TooManyRequests|SubscriptionRequestsThrottled/.test(line)) throttledErrors++;
  }
  return { invocations: counts, failed, throttledErrors };
}

/** Durations of the monitor's runs, from the timer instance's log. */
function monitorRuns(host: ChildHost): number[] {
  return host.lines.flatMap((line) => {
    if (!line.includes('"invocation.end"') || !line.includes("monitorReplication")) return [];
    const r = JSON.parse(line) as { durationInMs?: number };
    return r.durationInMs === undefined ? [] : [r.durationInMs];
  });
}

async function main(): Promise<void> {
  const command = `npm run bench:instances -- --instances ${scenario.instances} --builds ${scenario.builds} --definitions ${scenario.definitions}`;
  console.log(command);
  const dir = mkdtempSync(path.join(tmpdir(), "bench-instances-"));
  const queuesFile = path.join(dir, "queues.json");
  writeFileSync(queuesFile, JSON.stringify({ queues: loadQueueConfig().queues }));
  let arm: (EmulatorProcess & { endpoint: string; caCertPem: string; caCertPath: string }) | undefined;
  let serviceBus: (EmulatorProcess & { connectionString: string }) | undefined;
  let azurite: Azurite | undefined;
  const hosts: ChildHost[] = [];
  try {
    [arm, serviceBus, azurite] = await Promise.all([
      startArmProcess(path.join(dir, "arm")),
      startServiceBusProcess(path.join(dir, "servicebus"), queuesFile),
      startAzurite({ stateDir: path.join(dir, "azurite") }),
    ]);
    const armTarget = arm;
    const catalogBlobUrl = await provisionCatalogContainer(azurite);
    const catalog = await publishTestCatalog(
      { catalogBlobUrl, azurite },
      Array.from({ length: scenario.definitions }, (_, i) =>
        aCatalogImageInput({
          name: imageName(i),
          gallery: { resourceGroup: galleryResourceGroup, name: galleryName },
          definition: { offer: "instances", sku: imageName(i) },
        }),
      ),
    );
    const { throttling: _off, ...simulation } = briefSimulation;
    await configureSimulation(armTarget, { ...simulation, pageSize: 100 });
    await armAdmin(armTarget, "PUT", "throttling", { enabled: false });
    // provisionGalleries takes an emulator; only its endpoint and certificate are used.
    await provisionGalleries({ ...armTarget, stop: async () => {} }, catalog);
    await armAdmin(armTarget, "POST", "seed", seedBody(Date.now()));
    // ARM's buckets start full, with counters at zero, when the instances start.
    await armAdmin(armTarget, "PUT", "throttling", scenario.throttling);
    await armAdmin(armTarget, "POST", "counters/reset");

    const env = pipelineSettings(
      { arm: armTarget, serviceBus, azurite, catalogBlobUrl },
      {
        ARM_MAX_READS_PER_SECOND: String(scenario.pacing.readsPerSecond),
        ARM_MAX_WRITES_PER_SECOND: String(scenario.pacing.writesPerSecond),
        REPLICATION_MONITOR_SCHEDULE: scenario.monitorSchedule,
        // Each instance reads the catalog (1,000 entries) at most every 30 s, as deployed.
        CATALOG_MAX_AGE_IN_SECONDS: "30",
      },
    );
    for (let i = 0; i < scenario.instances; i++) {
      // Only the first holds the timers (the Functions timer's singleton lock).
      hosts.push(await startChildHost(env, path.join(dir, `host-${i}`), { timers: i === 0 }));
    }
    const started = performance.now();
    console.log(`${scenario.instances} instances up; ${scenario.builds} build requests at once`);

    // The burst: one request per image, spread over the instances' webhooks, all at once.
    const requests = await withDeadline(
      "the burst of build requests",
      5 * 60_000,
      Promise.all(
        Array.from({ length: scenario.builds }, async (_, i) => {
          const image = imageName(i);
          const commit = (0xba5e0000 + i).toString(16);
          const host = hosts[i % hosts.length]!;
          const { status, body } = await postBuild(host.url, { image, commit, reason: "push" });
          if (status !== 202) throw new Error(`POST /api/builds for ${image}: ${status} ${JSON.stringify(body)}`);
          if (body.buildId !== deriveBuildId({ image, commit })) throw new Error(`unexpected build id ${body.buildId}`);
          return { image, buildId: body.buildId as string };
        }),
      ),
    );
    const acceptedInMs = Math.round(performance.now() - started);
    console.log(`burst accepted in ${acceptedInMs} ms`);

    // Until every build ended and the sweep removed every template.
    const deadline = performance.now() + 40 * 60_000;
    let snapshot = await armSnapshot(armTarget);
    let lastReport = 0;
    while (performance.now() < deadline) {
      snapshot = await armSnapshot(armTarget);
      const ended = requests.filter((r) => terminalStateOf(snapshot, r.buildId)).length;
      if (ended === requests.length && snapshot.templates === 0) break;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        const counters = await armAdmin<ArmCounters>(armTarget, "GET", "counters");
        console.log(
          `[${Math.round((performance.now() - started) / 1000)} s] ${ended}/${requests.length} ended, ${snapshot.templates} templates; ARM ${counters.reads} reads, ${counters.writes} writes, ${counters.deletes} deletes, ${counters.throttled} throttled`,
        );
      }
      await sleep(2000);
    }
    const durationInMs = Math.round(performance.now() - started);
    const counters = await armAdmin<ArmCounters>(armTarget, "GET", "counters");

    const states = requests.map((r) => terminalStateOf(snapshot, r.buildId));
    const versionsOf = (buildId: string) => snapshot.versions.filter((v) => v.buildId === buildId);
    const promoted = states.filter((s) => s === "promoted").length;
    const failed = requests
      .filter((r) => terminalStateOf(snapshot, r.buildId) === "failed")
      .map((r) => ({ buildId: r.buildId, reason: snapshot.failures.get(r.buildId) ?? "version failed" }));
    const lost = states.filter((s) => !s).length;
    const duplicates = requests.filter((r) => versionsOf(r.buildId).length > 1).length;
    const perInstance = hosts.map((h, i) => ({ instance: i, timers: i === 0, ...invocationsOf(h) }));
    const sweeps = monitorRuns(hosts[0]!);
    const seconds = durationInMs / 1000;
    const rates = {
      readsPerSecond: ratio(counters.reads, seconds),
      writesPerSecond: ratio(counters.writes, seconds),
      deletesPerSecond: ratio(counters.deletes, seconds),
    };
    // The least time ARM's buckets allow for this many requests (burst first, then the refill).
    const bound = (n: number, bucket: { burst: number; perSecond: number }) =>
      Math.max(0, (n - bucket.burst) / bucket.perSecond);
    const armBoundInSeconds = Math.max(
      bound(counters.reads - counters.throttled, armTokenBuckets.reads),
      bound(counters.writes, armTokenBuckets.writes),
      bound(counters.deletes, armTokenBuckets.deletes),
    );

    console.log(
      table([
        ["figure", "value"],
        ["instances (timers on the first)", scenario.instances],
        ["build requests (burst)", requests.length],
        ["promoted", promoted],
        ["failed", failed.length],
        ["lost", lost],
        ["duplicate versions", duplicates],
        ["templates left", snapshot.templates],
        ["definitions swept per monitor run", scenario.definitions],
        [
          "monitor runs (duration p50 / max ms)",
          `${sweeps.length} (${distribution(sweeps).p50InMs} / ${distribution(sweeps).maxInMs})`,
        ],
        ["ARM reads / writes / deletes", `${counters.reads} / ${counters.writes} / ${counters.deletes}`],
        ["ARM 429 (throttled by the subscription's buckets)", counters.throttled],
        [
          "ARM rate: reads/s, writes/s, deletes/s",
          `${rates.readsPerSecond}, ${rates.writesPerSecond}, ${rates.deletesPerSecond}`,
        ],
        ["duration / ARM buckets' bound", `${seconds.toFixed(0)} s / ${armBoundInSeconds.toFixed(0)} s`],
        [
          "invocations per instance (start/watch/publish)",
          perInstance
            .map(
              (p) =>
                `${p.invocations["startBuild"] ?? 0}/${p.invocations["watchBuild"] ?? 0}/${p.invocations["publishVersion"] ?? 0}`,
            )
            .join(", "),
        ],
        [
          "invocations failed (of which by a 429)",
          `${perInstance.reduce((n, p) => n + p.failed, 0)} (${perInstance.reduce((n, p) => n + p.throttledErrors, 0)})`,
        ],
      ]),
    );
    const file = writeResult("instances", command, {
      scenario,
      durationInMs,
      burstAcceptedInMs: acceptedInMs,
      builds: {
        requested: requests.length,
        promoted,
        failed: failed.length,
        failures: failed,
        lost,
        duplicateVersions: duplicates,
      },
      leftovers: { templates: snapshot.templates },
      monitor: { runs: sweeps.length, durationInMs: distribution(sweeps), definitionsPerRun: scenario.definitions },
      arm: {
        reads: counters.reads,
        writes: counters.writes,
        deletes: counters.deletes,
        throttled429: counters.throttled,
        rates,
        bucketsBoundInSeconds: Math.round(armBoundInSeconds),
        byOperation: counters.operations,
      },
      perInstance,
      notes: [
        "Counters are the ARM emulator's (GET /_emulator/counters), reset when the instances started; a throttled request is counted among its kind and in throttled429.",
        "Each instance paces at ARM_MAX_READS_PER_SECOND=20 and ARM_MAX_WRITES_PER_SECOND=8 (the defaults), so 3 instances together may ask for 60 reads/s against ARM's 25/s refill: what keeps them within it is each instance reading ARM's remaining tokens.",
      ],
    });
    console.log(`results: ${file}`);
  } finally {
    for (const h of hosts) await h.kill("SIGKILL");
    await serviceBus?.kill("SIGTERM");
    await arm?.kill("SIGTERM");
    await azurite?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
