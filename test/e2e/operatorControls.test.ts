import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { main } from "../../cli/main.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { scheduleTagNames } from "../../shared/domain/scheduleState.js";
import { definitionRefOf } from "../../shared/usecases/context.js";
import type { PipelineEvent } from "../../shared/events/schema.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

const admin = { "x-functions-key": localAzure.masterKey };

/** The CLI against the stack, as an operator runs it: its settings from the environment. */
async function cli(stack: Stack, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { ...stack.env, USER: "operator" },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

const eventsOfType = (stack: Stack, type: string) =>
  stack.eventGrid
    .events()
    .map((e) => e.event as unknown as PipelineEvent)
    .filter((e) => e.type === `ImagePipeline.${type}`);

describe("operator controls on the local stack", () => {
  let stack: Stack;
  const sample = loadCatalog("images.yaml");
  // ubuntu builds on a nightly schedule due every second (the test fires the timer), disabled after 3 failures.
  const catalog = {
    images: sample.images.map((i) =>
      i.name === "ubuntu-2404"
        ? { ...i, schedule: { cron: "* * * * * *", skipIfUnchanged: false, disableAfterFailedBuilds: 3 } }
        : { ...i, schedule: undefined },
    ),
  };
  const image = "ubuntu-2404";

  async function build(commit: string, until: "promoted" | "failed") {
    const { body } = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    return eventually(`build ${commit} to be ${until}`, async () => {
      await stack.host.invokeTimer("monitorReplication");
      const r = await api(stack, `/builds/${body.buildId}`);
      return r.body?.stage === until ? r.body : undefined;
    });
  }

  beforeAll(async () => {
    stack = await startTestStack({ catalog });
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("rolls back latest to the previous version at once, never promotes it again, and promotes the next build", async () => {
    const first = await build("1010101", "promoted");
    const second = await build("2020202", "promoted");
    expect((await api(stack, `/images/${image}`)).body.latest).toBe(second.version);

    // Through the HTTP API: a function key is not enough, the admin (master) key is.
    const request = { method: "POST", body: JSON.stringify({ reason: "breaks cloud-init on D-series" }) };
    expect((await api(stack, `/images/${image}/rollback`, request)).status).toBe(401);
    const rolledBack = await api(stack, `/images/${image}/rollback`, { ...request, headers: admin });
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body).toMatchObject({ version: second.version, alreadyRolledBack: false });
    expect(rolledBack.body.after.latest).toBe(first.version);
    for (const version of Object.values(rolledBack.body.after.byRegion)) expect(version).toBe(first.version);
    expect((await api(stack, `/images/${image}`)).body.latest).toBe(first.version);
    await eventually("the rollback's event", async () => eventsOfType(stack, "VersionRolledBack")[0]);
    expect(eventsOfType(stack, "VersionRolledBack")[0]!.data).toMatchObject({
      version: second.version,
      reason: "breaks cloud-init on D-series",
      latest: first.version,
    });

    // The monitor leaves it out of latest, sweep after sweep.
    for (let i = 0; i < 3; i++) await stack.host.invokeTimer("monitorReplication");
    const afterSweeps = (await api(stack, `/images/${image}`)).body;
    expect(afterSweeps.latest).toBe(first.version);
    expect(afterSweeps.versions.find((v: { name: string }) => v.name === second.version)).toMatchObject({
      state: "rolledBack",
      excludeFromLatest: true,
    });

    // Rolling back the only version left would leave no latest: refused, with why (the CLI says it too).
    const refused = await cli(stack, "rollback", image, "--version", first.version, "--reason", "test");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("RollbackWouldLeaveNoLatest");

    // A new build is promoted when replicated; the rolled-back version stays out.
    const third = await build("3030303", "promoted");
    expect((await api(stack, `/images/${image}`)).body.latest).toBe(third.version);

    // Promoting the rolled-back version by hand (the CLI): it is eligible again, and latest stays the highest.
    const promoted = await cli(stack, "promote", image, second.version);
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toContain(`${image} ${second.version} promoted`);
    expect(promoted.stdout).toContain(`latest is now ${third.version}`);
    const versions = (await api(stack, `/images/${image}`)).body.versions;
    expect(versions.find((v: { name: string }) => v.name === second.version)).toMatchObject({
      state: "promoted",
      excludeFromLatest: false,
    });
  });

  it("disables the schedule after three failed builds, requests nothing on the fourth night, and enable restores it", async () => {
    await armAdmin(stack.arm, "POST", "rules/templates", {
      templateName: "*",
      failAt: "Customizing",
      failTimes: 100,
      failureMessage: "provision.sh exited with code 1",
    });
    const { images } = await armAdmin<{
      images: { publisher: string; offer: string; sku: string; versions: string[] }[];
    }>(stack.arm, "GET", "platform-images");
    const source = catalog.images.find((i) => i.name === image)!.source as {
      publisher: string;
      offer: string;
      sku: string;
    };
    const platform = images.find(
      (i) => i.publisher === source.publisher && i.offer === source.offer && i.sku === source.sku,
    )!;
    /** A night: the platform image has a new version (so the night is a new build), and the timer fires. */
    let night = 0;
    const nextNight = async () => {
      night += 1;
      platform.versions = [...platform.versions, `24.04.30000000${night}`];
      await armAdmin(stack.arm, "PUT", "platform-images", platform);
      stack.logs.length = 0;
      // The schedule is due every second: a night starts in a second after the previous night's.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await stack.host.invokeTimer("nightlyRebuild");
    };
    const failuresBefore = (await api(stack, `/images/${image}`)).body.recentFailures.length;
    for (let i = 1; i <= 3; i++) {
      await nextNight();
      await eventually(`failed build ${i}`, async () => {
        const status = (await api(stack, `/images/${image}`)).body;
        return status.recentFailures.length === failuresBefore + i && status.buildsInFlight.length === 0;
      });
    }
    const image0 = stack.catalog.images.find((i) => i.name === image)!;
    const definition = await stack.pipeline
      .deps({ info() {}, warn() {}, error() {} })
      .then((deps) => deps.gallery.getImageDefinition(definitionRefOf(image0, deps.settings)));
    expect(definition?.tags[scheduleTagNames.disabled]).toBeDefined();
    const disabled = await eventually("the schedule's event", async () => eventsOfType(stack, "ScheduleDisabled")[0]);
    expect(disabled.data).toMatchObject({
      image,
      threshold: 3,
      lastFailureReason: expect.stringContaining("provision.sh"),
    });
    expect((disabled.data as { failedBuilds: string[] }).failedBuilds).toHaveLength(3);

    // The fourth night requests nothing, and says why.
    const requestedBefore = eventsOfType(stack, "BuildRequested").length;
    await nextNight();
    expect(JSON.stringify(stack.logs)).toContain("schedule disabled since");
    expect((await api(stack, `/images/${image}`)).body.buildsInFlight).toEqual([]);
    expect(eventsOfType(stack, "BuildRequested")).toHaveLength(requestedBefore);

    // Enabled again (HTTP, admin key): the next night builds, and the earlier failures no longer count.
    await armAdmin(stack.arm, "DELETE", "rules");
    const enabled = await api(stack, `/images/${image}/schedule`, {
      method: "POST",
      body: JSON.stringify({ enabled: true }),
      headers: admin,
    });
    expect(enabled).toMatchObject({ status: 200, body: { wasDisabled: true } });
    await eventually("the enablement's event", async () => eventsOfType(stack, "ScheduleEnabled")[0]);
    await nextNight();
    await eventually("a build requested on the fifth night", async () =>
      eventsOfType(stack, "BuildRequested").length > requestedBefore ? true : undefined,
    );
    // Enabling an enabled schedule changes nothing.
    const again = await cli(stack, "schedule", "enable", image);
    expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining("schedule was not disabled") });
  }, 90_000);
});
