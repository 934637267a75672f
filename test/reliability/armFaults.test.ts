import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation } from "../../local/armAdmin.js";
import { localAzure } from "../../local/settings.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { api, startTestStack, eventually } from "../e2e/harness.js";
import {
  armSnapshot,
  briefSimulation,
  commitOf,
  provision,
  queueTotals,
  reliabilityCatalogInput,
  terminalStateOf,
  writeCatalog,
} from "./support.js";
import { aCatalogImageInput } from "../factories.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Stack = Awaited<ReturnType<typeof startTestStack>>;
interface Counters {
  operations: Record<string, number>;
  total: number;
  faulted: number;
}

const images = 4;
const buildsPerImage = 5;
const missingSourceId = `/subscriptions/${localAzure.subscriptionId}/resourceGroups/rg-base-images/providers/Microsoft.Compute/images/base-that-was-deleted`;

/** The pipeline on an ARM that fails, throttles and answers slowly, as Azure does on a bad day. */
describe("the pipeline under ARM faults", () => {
  let stack: Stack;
  let dir: string;

  const faults = (body: object) => armAdmin(stack.arm, "PUT", "faults", body);
  const counters = () => armAdmin<Counters>(stack.arm, "GET", "counters");
  const requestBuild = async (image: string, commit: string) => {
    const { status, body } = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    expect(status).toBe(202);
    return body.buildId as string;
  };
  const statusOf = async (buildId: string) => (await api(stack, `/builds/${buildId}`)).body;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "image-pipeline-faults-"));
    const { path } = writeCatalog(dir, [
      ...reliabilityCatalogInput(images, "fault"),
      {
        ...aCatalogImageInput({ name: "fault-gone-source", definition: { sku: "gone-source" } }),
        source: { type: "ManagedImage", imageId: missingSourceId },
      },
    ]);
    stack = await startTestStack({
      catalog: loadCatalog(path),
      timers: true,
      overrides: {
        REPLICATION_MONITOR_SCHEDULE: "*/1 * * * * *",
        NIGHTLY_SCHEDULE: "0 0 0 1 1 *",
        PRUNE_SCHEDULE: "0 0 0 1 1 *",
        ARM_MAX_READS_PER_SECOND: "500",
        ARM_MAX_WRITES_PER_SECOND: "200",
      },
    });
    await configureSimulation(stack.arm, briefSimulation);
    await provision(stack.arm, stack.catalog);
  });
  afterAll(async () => {
    await stack?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await faults({ latencyInMs: 0, rates: { "429": 0, "500": 0, "503": 0 }, scripted: [] });
    await armAdmin(stack.arm, "POST", "counters/reset");
  });

  it("completes 20 builds with 5% 500/503 and 2% 429 answers and 20 ms of latency on every request", async () => {
    await faults({ latencyInMs: 20, rates: { "429": 0.02, "500": 0.025, "503": 0.025 } });
    const buildImages = stack.catalog.images.filter((i) => i.name !== "fault-gone-source");
    const buildIds: string[] = [];
    for (let n = 0; n < images * buildsPerImage; n++) {
      buildIds.push(await requestBuild(buildImages[n % images]!.name, commitOf(1000 + n)));
    }
    const snapshot = await eventually(
      "every build to end",
      async () => {
        const s = await armSnapshot(stack.arm);
        return buildIds.every((id) => terminalStateOf(s, id)) ? s : undefined;
      },
      150_000,
      500,
    );
    const seen = await counters();
    await faults({ latencyInMs: 0, rates: { "429": 0, "500": 0, "503": 0 } });
    console.info(
      `[reliability] ARM faults: ${buildIds.length} builds, ${seen.total} ARM requests, ${seen.faulted} faulted ` +
        `(429/500/503), ${buildIds.filter((id) => terminalStateOf(snapshot, id) === "promoted").length} promoted`,
    );

    // On a failure, say why (the reason recorded on the image definition).
    const failures = buildIds
      .filter((id) => terminalStateOf(snapshot, id) !== "promoted")
      .map((id) => `${id}: ${snapshot.failures.get(id) ?? "version failed"}`);
    expect(failures).toEqual([]);
    expect(buildIds.map((id) => terminalStateOf(snapshot, id))).toEqual(buildIds.map(() => "promoted"));
    for (const id of buildIds) expect(snapshot.versions.filter((v) => v.buildId === id)).toHaveLength(1);
    expect(seen.faulted).toBeGreaterThan(0);
    const clean = await eventually(
      "the sweeps to remove templates and staging images",
      async () => {
        const s = await armSnapshot(stack.arm);
        return s.templates === 0 && s.stagingImages === 0 ? s : undefined;
      },
      60_000,
    );
    expect(clean.stagingImages).toBe(0);
    expect(queueTotals(stack.serviceBus).deadLettered).toBe(0);
  }, 300_000);

  it("fails a build whose source image does not exist before any run, saying so, without retrying", async () => {
    const buildId = await requestBuild("fault-gone-source", commitOf(2001));
    const status = await eventually(
      "the build to fail",
      async () => {
        const s = await statusOf(buildId);
        return s?.stage === "failed" ? s : undefined;
      },
      60_000,
    );
    expect(status.failure.reason).toMatch(
      /^Azure refused the build: read managed image base-that-was-deleted: .*(ResourceGroupNotFound|ResourceNotFound)/,
    );
    const seen = await counters();
    expect(seen.operations["VirtualMachineImageTemplates_CreateOrUpdate"] ?? 0).toBe(0);
    expect(seen.operations["VirtualMachineImageTemplates_Run"] ?? 0).toBe(0);
  });

  it("fails a build whose template creation is refused with 403, records why, and does not retry it", async () => {
    const image = stack.catalog.images[0]!.name;
    await faults({ scripted: [{ operation: "VirtualMachineImageTemplates_CreateOrUpdate", status: 403, count: 1 }] });
    const buildId = await requestBuild(image, commitOf(3001));
    const status = await eventually(
      "the build to fail",
      async () => {
        const s = await statusOf(buildId);
        return s?.stage === "failed" ? s : undefined;
      },
      60_000,
    );
    expect(status.failure.reason).toMatch(/^Azure refused the build: create image template .*AuthorizationFailed/);
    const seen = await counters();
    expect(seen.operations["VirtualMachineImageTemplates_CreateOrUpdate"]).toBe(1);
    expect(seen.operations["VirtualMachineImageTemplates_Run"] ?? 0).toBe(0);
    // The message was settled, not redelivered: nothing dead-lettered, nothing left in the queue.
    await eventually("the queue to drain", async () => queueTotals(stack.serviceBus).pending === 0, 30_000);
    expect(queueTotals(stack.serviceBus).deadLettered).toBe(0);
  });

  it("fails a build whose version the gallery refuses to replicate with 400, and keeps its evidence", async () => {
    const image = stack.catalog.images[1]!.name;
    await faults({ scripted: [{ operation: "GalleryImageVersions_Update", status: 400, count: 1 }] });
    const buildId = await requestBuild(image, commitOf(4001));
    const status = await eventually(
      "the build to fail",
      async () => {
        const s = await statusOf(buildId);
        return s?.stage === "failed" ? s : undefined;
      },
      60_000,
    );
    expect(status.failure.reason).toMatch(
      /^the gallery refused to replicate version \d+\.\d+\.\d+: .*InvalidParameter/,
    );
    const snapshot = await armSnapshot(stack.arm);
    // The version Image Builder wrote is marked failed (never latest; retention removes it) and the template is kept.
    expect(snapshot.versions.filter((v) => v.buildId === buildId).map((v) => v.state)).toEqual(["failed"]);
    expect(snapshot.templates).toBe(1);
  });
});
