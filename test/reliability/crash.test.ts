import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureSimulation } from "../../local/armAdmin.js";
import {
  armSnapshot,
  briefSimulation,
  commitOf,
  logRecords,
  pipelineSettings,
  postBuild,
  provision,
  publishTestCatalog,
  queueTotals,
  reliabilityCatalogInput,
  startChildHost,
  startEmulators,
  terminalStateOf,
  type ChildHost,
  type Emulators,
} from "./support.js";
import { eventually } from "../e2e/harness.js";

const images = 4;
const buildsPerImage = 5;
const kills = 5;

/**
 * The local host as its own process, killed with SIGKILL at random points while 20 builds are in flight, then
 * restarted: Service Bus (peek-lock, duplicate detection) and idempotent use-cases must lose and duplicate nothing, and
 * every step's event must still reach the Event Grid topic.
 */
describe("the pipeline when its host is killed mid-build", () => {
  let emulators: Emulators;
  let host: ChildHost | undefined;

  beforeAll(async () => {
    emulators = await startEmulators({ lockDuration: "PT5S" });
  });
  afterAll(async () => {
    await host?.kill("SIGKILL");
    await emulators?.stop();
  });

  it("brings every build of 20 to one promoted version and leaves nothing behind, across 5 SIGKILLs", async () => {
    await configureSimulation(emulators.arm, briefSimulation);
    const catalog = await publishTestCatalog(emulators, reliabilityCatalogInput(images, "crash"));
    await provision(emulators.arm, catalog);
    const env = pipelineSettings(emulators);
    const cwd = join(emulators.dir, "host");
    host = await startChildHost(env, cwd);

    // 20 builds of different commits, five per image: each image's builds wait for each other.
    const requested: { buildId: string; image: string }[] = [];
    for (let n = 0; n < images * buildsPerImage; n++) {
      const image = catalog.images[n % images]!.name;
      const { status, body } = await postBuild(host.url, { image, commit: commitOf(n + 1) });
      expect(status).toBe(202);
      requested.push({ buildId: body.buildId, image });
    }
    expect(new Set(requested.map((r) => r.buildId)).size).toBe(requested.length);

    const killedAfterInMs: number[] = [];
    const inFlightAtKill: number[] = [];
    const lines: string[] = [];
    for (let k = 0; k < kills; k++) {
      const delay = 400 + Math.floor(Math.random() * 2000);
      killedAfterInMs.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      inFlightAtKill.push((await armSnapshot(emulators.arm)).templates);
      await host.kill("SIGKILL");
      lines.push(...host.lines);
      host = await startChildHost(env, cwd);
    }

    const snapshot = await eventually(
      "every build to end",
      async () => {
        const s = await armSnapshot(emulators.arm);
        const unfinished = requested.filter((r) => !terminalStateOf(s, r.buildId));
        if (unfinished.length === 0) return s;
        // Says where each unfinished build stands when the wait gives up.
        const where = unfinished.map((r) => {
          const versions = s.versions.filter((v) => v.buildId === r.buildId).map((v) => `${v.name}:${v.state}`);
          return `${r.buildId} (${r.image}) versions [${versions.join(", ")}]`;
        });
        const queues = queueTotals(emulators.serviceBus);
        throw new Error(
          `${unfinished.length} builds not ended: ${where.join("; ")}; ${s.templates} templates; ` +
            `queues ${JSON.stringify(queues.byQueue)}`,
        );
      },
      150_000,
      500,
    );
    lines.push(...host.lines);
    // Deliveries after the first: messages whose handler was killed (or abandoned) and came back.
    const redeliveries = logRecords(lines).filter(
      (r) => r.event === "invocation.start" && /DeliveryCount=([2-9]|\d\d)/.test(r.message),
    ).length;
    const states = requested.map((r) => terminalStateOf(snapshot, r.buildId));
    const versionsOf = (buildId: string) => snapshot.versions.filter((v) => v.buildId === buildId);
    const lost = requested.filter((r) => !states[requested.indexOf(r)]).length;
    const duplicates = requested.filter((r) => versionsOf(r.buildId).length > 1).length;
    console.info(
      `[reliability] crash: ${kills} SIGKILLs (after ${killedAfterInMs.join(", ")} ms, with ${inFlightAtKill.join(", ")} ` +
        `templates in flight), ${redeliveries} redeliveries, ${requested.length} builds, ` +
        `${states.filter((s) => s === "promoted").length} promoted, ${lost} lost, ${duplicates} duplicated`,
    );
    // The kills landed on builds in flight, not between them.
    expect(inFlightAtKill.some((n) => n > 0)).toBe(true);

    expect(states).toEqual(requested.map(() => "promoted"));
    for (const r of requested) expect(versionsOf(r.buildId)).toHaveLength(1);
    // No version without a build of this run, and one per build for each image.
    expect(snapshot.versions).toHaveLength(requested.length);
    for (const image of catalog.images) {
      expect(snapshot.versions.filter((v) => v.image === image.name)).toHaveLength(buildsPerImage);
    }

    // The monitor's sweeps (every second in the host) remove every template and staging image.
    const clean = await eventually(
      "templates and staging images to be swept",
      async () => {
        const s = await armSnapshot(emulators.arm);
        return s.templates === 0 && s.stagingImages === 0 ? s : undefined;
      },
      60_000,
      500,
    );
    expect(clean.templates).toBe(0);
    // Nothing left to do and nothing dead-lettered: no message was given up on.
    const queues = await eventually(
      "the queues to drain",
      async () => {
        const totals = queueTotals(emulators.serviceBus);
        return totals.pending === 0 ? totals : undefined;
      },
      60_000,
    );
    expect(queues.deadLettered).toBe(0);

    // Every step's event reached the topic despite the kills: each id at least once (repeats allowed), none missing.
    const received = new Set(emulators.eventGrid.events().map((e) => String(e.event.id)));
    const missing = requested.flatMap((r) =>
      ["requested", "started", "published", "promoted"]
        .map((step) => `${r.buildId}:${step}`)
        .filter((id) => !received.has(id)),
    );
    expect(missing).toEqual([]);
  }, 300_000);
});
