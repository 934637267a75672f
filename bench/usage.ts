/**
 * Where each version runs, at fleet scale (issue 17): 10,000 VMs across 1,000 gallery image definitions in 10
 * subscriptions, read in one sweep through Resource Graph's query endpoint of the ARM emulator, with Resource Graph's
 * per-user quota on (15 queries per 5 s). The bar: one sweep costs at most ceil(VMs / page size) Resource Graph
 * requests, counted by the emulator (`ResourceGraph_Resources`, 429s included), whatever the number of definitions. Runs the pipeline's adapter (shared/adapters/resourceGraph.ts) at Resource Graph's largest page (1,000
 * rows) and at its default (100 rows, where the sweep outruns the quota and must pace itself from the headers), and
 * checks that every VM is counted under the version it runs. Prints a table and writes bench/results/usage.json.
 *
 * `npm run bench:usage [-- --vms 10000 --definitions 1000]`
 */
import { parseArgs } from "node:util";
import { armAdmin } from "../local/armAdmin.js";
import type { ArmEmulator } from "../local/arm/index.js";
import { ArmClients } from "../shared/adapters/armClients.js";
import { ResourceGraphFleetReader } from "../shared/adapters/resourceGraph.js";
import { parseSettings } from "../shared/config/settings.js";
import { usageByVersion, type FleetUsage } from "../shared/domain/usage.js";
import { countOf, readCounters, startBenchArm } from "./lib/arm.js";
import { withDeadline, writeResult } from "./lib/results.js";
import { table } from "./lib/stats.js";

const { values: argv } = parseArgs({
  options: {
    vms: { type: "string", default: "10000" },
    definitions: { type: "string", default: "1000" },
  },
});
const scenario = {
  vms: Number(argv.vms),
  definitions: Number(argv.definitions),
  versionsPerDefinition: 3,
  /** The fleet's subscriptions (USAGE_SUBSCRIPTION_IDS); the gallery lives in the first. */
  subscriptions: 10,
  /** Resource Graph's documented per-user quota (local/arm/README.md [RG6]). */
  quota: { enabled: true, queriesPerWindow: 15, windowInMs: 5000 },
  pageSizes: [1000, 100],
};
if (scenario.vms < scenario.definitions) throw new Error("--vms must be at least --definitions");

const subscriptionIds = Array.from(
  { length: scenario.subscriptions },
  (_, i) => `00000000-0000-0000-0000-${String(i + 1).padStart(12, "0")}`,
);
const gallerySubscription = subscriptionIds[0]!;
const galleryGroup = "rg-golden-images";
const galleryName = "acg_golden";
const definitionName = (d: number) => `img-${String(d).padStart(4, "0")}`;
const definitionRef = (d: number) => ({
  subscriptionId: gallerySubscription,
  resourceGroup: galleryGroup,
  gallery: galleryName,
  definition: definitionName(d),
});
const definitionId = (d: number) =>
  `/subscriptions/${gallerySubscription}/resourceGroups/${galleryGroup}/providers/Microsoft.Compute/galleries/${galleryName}/images/${definitionName(d)}`;

/**
 * The gallery, and the fleet as Compute leaves it after creation: VM i runs definition i mod D; even VMs name a
 * version, odd ones the definition (then `exactVersion` holds the version Compute resolved). Spread over the
 * subscriptions, 10 resource groups each.
 */
function seedBodies() {
  const imageVersions = [];
  for (let d = 0; d < scenario.definitions; d++) {
    for (let v = 0; v < scenario.versionsPerDefinition; v++) {
      imageVersions.push({
        resourceGroup: galleryGroup,
        gallery: galleryName,
        imageDefinition: definitionName(d),
        name: `1.0.${v}`,
        location: "westeurope",
        properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
      });
    }
  }
  const gallery = {
    subscriptionId: gallerySubscription,
    galleries: [{ resourceGroup: galleryGroup, name: galleryName, location: "westeurope" }],
    imageDefinitions: Array.from({ length: scenario.definitions }, (_, d) => ({
      resourceGroup: galleryGroup,
      gallery: galleryName,
      name: definitionName(d),
      properties: {
        osType: "Linux",
        osState: "Generalized",
        hyperVGeneration: "V2",
        identifier: { publisher: "contoso", offer: "bench", sku: definitionName(d) },
      },
    })),
    imageVersions,
  };
  const expected = new Map<string, number>(); // "d/version" -> VMs
  const fleets = subscriptionIds.map((subscriptionId) => ({ subscriptionId, resources: [] as object[] }));
  for (let i = 0; i < scenario.vms; i++) {
    const d = i % scenario.definitions;
    const version = `1.0.${Math.floor(i / scenario.definitions) % scenario.versionsPerDefinition}`;
    const fleet = fleets[i % fleets.length]!;
    const imageReference =
      i % 2 === 0 ? { id: `${definitionId(d)}/versions/${version}` } : { id: definitionId(d), exactVersion: version };
    fleet.resources.push({
      id: `/subscriptions/${fleet.subscriptionId}/resourceGroups/rg-app-${i % 10}/providers/Microsoft.Compute/virtualMachines/vm-${String(i).padStart(5, "0")}`,
      location: "westeurope",
      properties: { hardwareProfile: { vmSize: "Standard_B2s" }, storageProfile: { imageReference } },
    });
    expected.set(`${d}/${version}`, (expected.get(`${d}/${version}`) ?? 0) + 1);
  }
  return { gallery, fleets, expected };
}

/** Every VM counted once, under the version it runs, for every definition. */
function mismatches(fleet: FleetUsage, expected: Map<string, number>): number {
  let wrong = 0;
  let counted = 0;
  for (let d = 0; d < scenario.definitions; d++) {
    for (const [version, usage] of usageByVersion(fleet.members, definitionRef(d))) {
      counted += usage.virtualMachines;
      if (usage.virtualMachines !== expected.get(`${d}/${version}`)) wrong += 1;
    }
  }
  return wrong + Math.abs(counted - scenario.vms);
}

async function sweep(arm: ArmEmulator, pageSize: number, expected: Map<string, number>) {
  // A fresh client (a new Functions instance) after a quiet quota window.
  await new Promise((resolve) => setTimeout(resolve, scenario.quota.windowInMs + 100));
  await armAdmin(arm, "POST", "counters/reset");
  const settings = parseSettings({
    AZURE_SUBSCRIPTION_ID: gallerySubscription,
    IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
    IMAGE_BUILDER_IDENTITY_ID: `/subscriptions/${gallerySubscription}/resourceGroups/rg-image-pipeline/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-builder`,
    ServiceBusConnection: "unused",
    ARM_ENDPOINT: arm.endpoint,
    ARM_AUTH: "emulator",
    ARM_CA_CERT_PATH: arm.caCertPath,
  });
  const reader = new ResourceGraphFleetReader(new ArmClients(settings), { pageSize });
  const started = performance.now();
  const fleet = await withDeadline(`a sweep at page size ${pageSize}`, 10 * 60_000, reader.readUsage(subscriptionIds));
  const wallInMs = Math.round(performance.now() - started);
  const counters = await readCounters(arm);
  const requests = countOf(counters, /^ResourceGraph_Resources$/);
  const bound = Math.ceil(scenario.vms / pageSize);
  return {
    pageSize,
    requests,
    bound,
    withinBound: requests <= bound,
    members: fleet.members.length,
    countingErrors: mismatches(fleet, expected),
    wallInMs,
    otherArmRequests: counters.total - requests,
  };
}

async function main() {
  const command = `npm run bench:usage${scenario.vms === 10_000 && scenario.definitions === 1000 ? "" : ` -- --vms ${scenario.vms} --definitions ${scenario.definitions}`}`;
  const { gallery, fleets, expected } = seedBodies();
  const arm = await startBenchArm();
  try {
    await armAdmin(arm, "PUT", "throttling", { enabled: false });
    await armAdmin(arm, "PATCH", "config", { resourceGraph: { quota: scenario.quota } });
    await armAdmin(arm, "POST", "seed", gallery);
    for (const fleet of fleets) await armAdmin(arm, "POST", "seed", fleet);
    const runs = [];
    for (const pageSize of scenario.pageSizes) runs.push(await sweep(arm, pageSize, expected));
    console.log(
      `usage: ${scenario.vms} VMs on ${scenario.definitions} definitions x ${scenario.versionsPerDefinition} versions, ${scenario.subscriptions} subscriptions, Resource Graph quota ${scenario.quota.queriesPerWindow} per ${scenario.quota.windowInMs / 1000} s\n`,
    );
    console.log(
      table([
        ["page size", "requests", "bound", "within", "members", "counting errors", "wall ms"],
        ...runs.map((r) => [r.pageSize, r.requests, r.bound, r.withinBound, r.members, r.countingErrors, r.wallInMs]),
      ]),
    );
    const file = writeResult("usage", command, {
      scenario,
      runs,
      // A 429 is counted among the requests (the emulator counts every request): a sweep that met one and tried again
      // would exceed the bound, which the pages alone reach.
      bar: "Resource Graph requests per sweep <= ceil(VMs / page size), every VM counted under its version",
      met: runs.every((r) => r.withinBound && r.countingErrors === 0),
    });
    console.log(`\nwrote ${file}`);
    if (!runs.every((r) => r.withinBound && r.countingErrors === 0)) process.exitCode = 1;
  } finally {
    await arm.dispose();
  }
}

await main();
