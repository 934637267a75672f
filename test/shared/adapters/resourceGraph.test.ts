import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startArmEmulator, type ArmEmulator } from "../../../local/arm/index.js";
import { armAdmin } from "../../../local/armAdmin.js";
import { ArmClients } from "../../../shared/adapters/armClients.js";
import { parseResetsAfter, ResourceGraphFleetReader } from "../../../shared/adapters/resourceGraph.js";
import { parseSettings } from "../../../shared/config/settings.js";
import { UsageUnavailableError } from "../../../shared/errors.js";

const sub = "11111111-2222-3333-4444-555555555555";
const other = "99999999-8888-7777-6666-555555555555";
const definitionId = `/subscriptions/${sub}/resourceGroups/rg-gallery/providers/Microsoft.Compute/galleries/gal/images/ubuntu`;
const put = (arm: ArmEmulator, path: string, body: unknown) =>
  armAdmin(arm, "POST", "seed", { subscriptionId: sub, resources: [] }).then(() => raw(arm, "PUT", path, body));

/** An ARM call as any client makes it (the emulator takes any bearer token). */
async function raw(arm: ArmEmulator, method: string, path: string, body?: unknown): Promise<unknown> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, arm.endpoint),
      { method, ca: arm.caCertPem, headers: { authorization: "Bearer t", "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => ((res.statusCode ?? 500) >= 300 ? reject(new Error(`${path}: ${text}`)) : resolve(text)));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("the Resource Graph fleet reader, on the ARM emulator", () => {
  let arm: ArmEmulator;
  let stateDir: string;
  let clients: ArmClients;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "fleet-reader-"));
    arm = await startArmEmulator({ stateDir, port: 0 });
    const caPath = join(stateDir, "ca.pem");
    writeFileSync(caPath, arm.caCertPem);
    clients = new ArmClients(
      parseSettings({
        AZURE_SUBSCRIPTION_ID: sub,
        IMAGE_BUILDER_RESOURCE_GROUP: "rg",
        IMAGE_BUILDER_IDENTITY_ID: "/subscriptions/s/resourceGroups/rg/providers/x/y/id",
        ServiceBusConnection: "unused",
        ARM_ENDPOINT: arm.endpoint,
        ARM_AUTH: "emulator",
        ARM_CA_CERT_PATH: caPath,
      }),
    );
  });
  afterAll(async () => {
    await arm.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await armAdmin(arm, "POST", "reset");
    await armAdmin(arm, "PUT", "config", {
      operationDurationInMs: 0,
      throttling: { enabled: false },
      resourceGraph: { quota: { enabled: false } },
    });
    await armAdmin(arm, "POST", "seed", {
      subscriptionId: sub,
      resourceGroups: [
        { name: "rg-gallery", location: "westeurope" },
        { name: "rg-app", location: "westeurope" },
      ],
      galleries: [{ resourceGroup: "rg-gallery", name: "gal", location: "westeurope" }],
      imageDefinitions: [
        {
          resourceGroup: "rg-gallery",
          gallery: "gal",
          name: "ubuntu",
          properties: { osType: "Linux", osState: "Generalized", identifier: { publisher: "p", offer: "o", sku: "s" } },
        },
      ],
      imageVersions: ["1.0.0", "1.0.1"].map((name) => ({
        resourceGroup: "rg-gallery",
        gallery: "gal",
        imageDefinition: "ubuntu",
        name,
        properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
      })),
    });
    const compute = `/subscriptions/${sub}/resourceGroups/rg-app/providers/Microsoft.Compute`;
    for (const [name, id] of [
      ["vm-pinned", `${definitionId}/versions/1.0.0`],
      ["vm-latest", definitionId],
      ["vm-other", "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/images/managed"],
    ]) {
      await put(arm, `${compute}/virtualMachines/${name}?api-version=2026-04-01`, {
        location: "westeurope",
        properties: { storageProfile: { imageReference: { id } } },
      });
    }
    await put(arm, `${compute}/virtualMachineScaleSets/web?api-version=2026-04-01`, {
      location: "westeurope",
      sku: { capacity: 3 },
      properties: { virtualMachineProfile: { storageProfile: { imageReference: { id: definitionId } } } },
    });
    await put(arm, `${compute}/virtualMachineScaleSets/api?api-version=2026-04-01`, {
      location: "westeurope",
      sku: { capacity: 2 },
      properties: {
        orchestrationMode: "Flexible",
        virtualMachineProfile: { storageProfile: { imageReference: { id: `${definitionId}/versions/1.0.0` } } },
      },
    });
  });

  it("reads VMs, both kinds of scale sets and their instances, with the version each runs, across pages", async () => {
    const reader = new ResourceGraphFleetReader(clients, { pageSize: 2 });
    await armAdmin(arm, "POST", "counters/reset");
    const usage = await reader.readUsage([sub]);
    const summary = usage.members
      .map(
        (m) =>
          `${m.kind} ${m.id.split("/providers/Microsoft.Compute/")[1]} ${m.exactVersion ?? m.imageId.split("/").pop()}`,
      )
      .sort();
    expect(summary).toEqual([
      "scaleSet virtualMachineScaleSets/api 1.0.0",
      "scaleSet virtualMachineScaleSets/web ubuntu",
      "scaleSetInstance virtualMachineScaleSets/web/virtualMachines/0 1.0.1",
      "scaleSetInstance virtualMachineScaleSets/web/virtualMachines/1 1.0.1",
      "scaleSetInstance virtualMachineScaleSets/web/virtualMachines/2 1.0.1",
      expect.stringMatching(/^scaleSetInstance virtualMachines\/api_[0-9a-f]{8} 1\.0\.0$/),
      expect.stringMatching(/^scaleSetInstance virtualMachines\/api_[0-9a-f]{8} 1\.0\.0$/),
      "virtualMachine virtualMachines/vm-latest 1.0.1",
      "virtualMachine virtualMachines/vm-pinned 1.0.0",
    ]);
    // 6 Resources rows in pages of 2, then 3 Uniform instances: 3 + 2 queries.
    const counters = await armAdmin<{ operations: Record<string, number> }>(arm, "GET", "counters");
    expect(counters.operations["ResourceGraph_Resources"]).toBe(5);
  });

  it("waits for Resource Graph's quota to reset when an answer says it is spent", async () => {
    // A window far longer than the test: only the emulator's clock, moved by each wait, resets it, so the waits are
    // exactly the ones the quota asks for however slowly the queries run.
    await armAdmin(arm, "PUT", "config", {
      resourceGraph: { quota: { enabled: true, queriesPerWindow: 2, windowInMs: 60_000 } },
    });
    await armAdmin(arm, "POST", "counters/reset");
    const waits: number[] = [];
    const reader = new ResourceGraphFleetReader(clients, {
      pageSize: 2,
      maxThrottleWaitInMs: 120_000,
      sleep: async (ms) => {
        waits.push(ms);
        await armAdmin(arm, "POST", "clock", { advanceByMs: ms });
      },
    });
    const usage = await reader.readUsage([sub]);
    expect(usage.members).toHaveLength(9);
    // Five pages at two queries a window: a wait after the second and after the fourth, each until the window resets.
    expect(waits).toHaveLength(2);
    for (const ms of waits) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
    }
    // Five queries in all: none was refused and re-sent.
    const counters = await armAdmin<{ operations: Record<string, number> }>(arm, "GET", "counters");
    expect(counters.operations["ResourceGraph_Resources"]).toBe(5);
  });

  it("gives up, deleting nothing downstream, when the quota would keep it waiting past its patience", async () => {
    await armAdmin(arm, "PUT", "config", {
      resourceGraph: { quota: { enabled: true, queriesPerWindow: 1, windowInMs: 60_000 } },
    });
    const reader = new ResourceGraphFleetReader(clients, {
      pageSize: 2,
      maxThrottleWaitInMs: 5_000,
      sleep: async () => {},
    });
    await expect(reader.readUsage([sub])).rejects.toThrow(
      /Resource Graph's quota would keep the sweep waiting more than 5 s/,
    );
  });

  it("fails whole on a 403, and on a listed subscription it cannot read (Resource Graph leaves those out silently)", async () => {
    const reader = new ResourceGraphFleetReader(clients);
    await armAdmin(arm, "PUT", "config", { resourceGraph: { deniedSubscriptions: [sub] } });
    const denied = await reader.readUsage([sub]).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(UsageUnavailableError);
    expect((denied as Error).message).toMatch(
      /denied access to subscriptions 11111111-2222-3333-4444-555555555555 \(403 AccessDenied\)/,
    );
    const partial = await reader.readUsage([sub, other]).catch((e: unknown) => e);
    expect((partial as Error).message).toMatch(/shows nothing of subscription 11111111-2222-3333-4444-555555555555/);
    // A readable subscription with nothing in it is fine.
    await armAdmin(arm, "PUT", "config", { resourceGraph: { deniedSubscriptions: [] } });
    expect((await reader.readUsage([sub, other])).members).toHaveLength(9);
  });

  it("lets views share a sweep of the last minute, and sweeps anew for pruning, after the minute or after a failure", async () => {
    let nowMs = 0;
    const reader = new ResourceGraphFleetReader(clients, { now: () => nowMs });
    const recent = { maxAgeInMs: 60_000 };
    const queries = async () =>
      (await armAdmin<{ operations: Record<string, number> }>(arm, "GET", "counters")).operations[
        "ResourceGraph_Resources"
      ] ?? 0;
    await armAdmin(arm, "POST", "counters/reset");
    const [first, second] = await Promise.all([reader.readUsage([sub], recent), reader.readUsage([sub], recent)]);
    expect(second).toBe(first); // two views at once: one sweep
    const perSweep = await queries();
    expect(perSweep).toBeGreaterThan(0);
    nowMs = 59_000;
    expect(await reader.readUsage([sub], recent)).toBe(first);
    expect(await queries()).toBe(perSweep);
    const forPruning = await reader.readUsage([sub]);
    expect(forPruning).not.toBe(first);
    expect(await queries()).toBe(2 * perSweep);
    nowMs = 59_000 + 60_001; // the pruning sweep, the last one, is now older than a minute
    await reader.readUsage([sub], recent);
    expect(await queries()).toBe(3 * perSweep);
    await armAdmin(arm, "PUT", "config", { resourceGraph: { deniedSubscriptions: [sub] } });
    nowMs += 120_000;
    await expect(reader.readUsage([sub], recent)).rejects.toThrow(UsageUnavailableError);
    await armAdmin(arm, "PUT", "config", { resourceGraph: { deniedSubscriptions: [] } });
    expect((await reader.readUsage([sub], recent)).members).toHaveLength(9); // the failure was not kept
  });

  it("reads Resource Graph's reset duration as hh:mm:ss", () => {
    expect(parseResetsAfter("00:00:03")).toBe(3000);
    expect(parseResetsAfter("01:02:03")).toBe(3_723_000);
    expect(parseResetsAfter("soon")).toBeUndefined();
  });
});
