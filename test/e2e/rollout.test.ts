import { ComputeManagementClient } from "@azure/arm-compute";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import type { PipelineEvent } from "../../shared/events/schema.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

const image = "ubuntu-2404";
const regions = ["westeurope", "northeurope"] as const;
const galleryGroup = "rg-golden-images";
const admin = { "x-functions-key": localAzure.masterKey };
const credential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 60_000 }) };
const poll = { updateIntervalInMs: 10 };

describe("a progressive rollout and replica shrinking on the local stack (issue 20's bar)", () => {
  let stack: Stack;
  let compute: ComputeManagementClient;
  const sample = loadCatalog("images.yaml");
  // Wave 1 westeurope, wave 2 northeurope, a soak of a second and a half; superseded versions keep one replica at home.
  const catalog = {
    images: sample.images
      .filter((i) => i.name === image)
      .map((i) => ({
        ...i,
        schedule: undefined,
        distribution: {
          ...i.distribution,
          rollout: { soakInMinutes: 0.025, waves: [{ regions: ["westeurope"] }, { regions: ["northeurope"] }] },
        },
        retention: {
          ...i.retention,
          shrinkSuperseded: { afterNewerVersions: 1, regionalReplicaCount: 1, keepRegions: "home" as const },
        },
      })),
  };
  const definitionId = `/subscriptions/${localAzure.subscriptionId}/resourceGroups/${galleryGroup}/providers/Microsoft.Compute/galleries/acg_golden/images/${image}`;

  let probes = 0;
  const probeVms: string[] = [];
  /**
   * What `latest` resolves to in each region, as Azure itself answers it: a VM created from the definition (no
   * version) in that region reports the version it got as `exactVersion`; no version at all is an error.
   */
  async function latestByRegion(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const region of regions) {
      const name = `probe-${++probes}`;
      try {
        const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait(
          galleryGroup,
          name,
          { location: region, storageProfile: { imageReference: { id: definitionId } } },
          poll,
        );
        probeVms.push(name);
        out[region] = vm.storageProfile?.imageReference?.exactVersion;
      } catch {
        out[region] = undefined;
      }
    }
    return out;
  }

  async function build(commit: string): Promise<string> {
    const { body } = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    const done = await eventually(`build ${commit} to be promoted`, async () => {
      await stack.host.invokeTimer("monitorReplication");
      const r = await api(stack, `/builds/${body.buildId}`);
      return r.body?.stage === "promoted" ? r.body : undefined;
    });
    return done.version as string;
  }

  const versionOf = (name: string) => compute.galleryImageVersions.get(galleryGroup, "acg_golden", image, name);
  const rolloutTag = async (name: string) => (await versionOf(name)).tags?.["imagePipeline.rollout"];
  const eventsOfType = (type: string) =>
    stack.eventGrid
      .events()
      .map((e) => e.event as unknown as PipelineEvent)
      .filter((e) => e.type === `ImagePipeline.${type}`);

  /** Fires the monitor until the version's rollout reaches `state` (the soak is over by then). */
  const monitorUntil = (version: string, state: string) =>
    eventually(`${version}'s rollout to be ${state}`, async () => {
      await stack.host.invokeTimer("monitorReplication");
      return (await rolloutTag(version)) === state;
    });

  beforeAll(async () => {
    stack = await startTestStack({ catalog });
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
    compute = new ComputeManagementClient(credential, localAzure.subscriptionId, {
      endpoint: stack.arm.endpoint,
      tlsOptions: { ca: stack.arm.caCertPem },
    });
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("moves latest wave by wave, stops the second wave of a version rolled back during its soak, and shrinks what is superseded", async () => {
    // A: wave 1 only at promotion; northeurope has no latest yet (no other version).
    const a = await build("1111111");
    expect(await latestByRegion()).toEqual({ westeurope: a, northeurope: undefined });
    expect(await rolloutTag(a)).toBe("rolling");

    // After its soak, the monitor lets it into wave 2.
    await monitorUntil(a, "complete");
    expect(await latestByRegion()).toEqual({ westeurope: a, northeurope: a });
    await eventually("A's wave event", async () => eventsOfType("RolloutWaveMoved")[0]);
    expect(eventsOfType("RolloutWaveMoved").map((e) => e.data)).toEqual([
      expect.objectContaining({ version: a, wave: 2, regions: ["northeurope"], complete: true }),
    ]);

    // B: promoted into wave 1, then rolled back by an operator during its soak.
    const b = await build("2222222");
    expect(await latestByRegion()).toEqual({ westeurope: b, northeurope: a });
    const rollback = await api(stack, `/images/${image}/rollback`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ version: b, reason: "canary errors in westeurope" }),
    });
    expect(rollback.status).toBe(200);
    expect(await latestByRegion()).toEqual({ westeurope: a, northeurope: a });

    // Past its soak, the monitor stops the rollout instead of moving wave 2: northeurope never gets B.
    await monitorUntil(b, "stopped");
    for (let i = 0; i < 3; i++) await stack.host.invokeTimer("monitorReplication");
    expect(await latestByRegion()).toEqual({ westeurope: a, northeurope: a });
    await eventually("B's stop event", async () => eventsOfType("RolloutStopped")[0]);
    expect(eventsOfType("RolloutStopped").map((e) => e.data)).toEqual([
      expect.objectContaining({ version: b, state: "stopped", wave: 1 }),
    ]);
    expect(eventsOfType("RolloutWaveMoved").filter((e) => (e.data as { version: string }).version === b)).toEqual([]);

    // C: while it soaks in wave 1, A is still latest in northeurope: the prune run leaves A's replicas alone.
    const c = await build("3333333");
    expect(await latestByRegion()).toEqual({ westeurope: c, northeurope: a });
    await stack.host.invokeTimer("pruneVersions");
    expect((await versionOf(a)).publishingProfile?.targetRegions?.map((r) => r.name)).toHaveLength(2);

    // C complete: A is latest nowhere, but the probe VMs run it: still left alone.
    await monitorUntil(c, "complete");
    expect(await latestByRegion()).toEqual({ westeurope: c, northeurope: c });
    await stack.host.invokeTimer("pruneVersions");
    const held = (await versionOf(a)).publishingProfile?.targetRegions ?? [];
    expect(held.map((r) => [r.name.toLowerCase().replace(/\s/g, ""), r.regionalReplicaCount])).toEqual([
      ["westeurope", 2],
      ["northeurope", 1],
    ]);

    // Nothing runs A any more: the next prune run shrinks it to one replica in its home region, and says why.
    for (const vm of probeVms.splice(0)) await compute.virtualMachines.beginDeleteAndWait(galleryGroup, vm, poll);
    await stack.host.invokeTimer("pruneVersions");
    const shrunk = await eventually("A to be shrunk", async () => {
      const v = await versionOf(a);
      return v.provisioningState === "Succeeded" && v.publishingProfile?.targetRegions?.length === 1 ? v : undefined;
    });
    expect(shrunk.publishingProfile?.targetRegions?.map((r) => [r.name, r.regionalReplicaCount])).toEqual([
      ["West Europe", 1],
    ]);
    expect(shrunk.tags?.["imagePipeline.replicasShrunk"]).toMatch(
      new RegExp(
        `superseded by 1 newer healthy version \\(${c.replace(/\./g, "\\.")}\\): West Europe 2 → 1 replicas; North Europe removed`,
      ),
    );
    // B (rolled back) and C (latest) keep every replica, and latest is still C everywhere.
    expect((await versionOf(c)).publishingProfile?.targetRegions).toHaveLength(2);
    expect((await versionOf(b)).publishingProfile?.targetRegions).toHaveLength(2);
    expect(await latestByRegion()).toEqual({ westeurope: c, northeurope: c });

    // A second run changes nothing more.
    await stack.host.invokeTimer("pruneVersions");
    expect((await versionOf(a)).tags?.["imagePipeline.replicasShrunk"]).toBe(
      shrunk.tags?.["imagePipeline.replicasShrunk"],
    );
  }, 240_000);
});
