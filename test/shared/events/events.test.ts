import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { eventsJsonSchema, eventsJsonSchemaPath, pipelineEventSchema } from "../../../shared/events/index.js";
import { eventOrigin, events } from "../../../shared/usecases/events.js";
import { aCatalogImage } from "../../factories.js";
import { testSettings } from "../../fakes/pipeline.js";

const image = aCatalogImage({ name: "ubuntu-2404" });
const origin = eventOrigin(image, testSettings);
const buildId = "b-0123456789abcdef0123";
const at = new Date("2026-11-23T02:00:00Z");

describe("the pipeline's events", () => {
  it("have a committed JSON Schema for consumers that matches the zod schemas (run `npm run schema` when this fails)", () => {
    const committed: unknown = JSON.parse(
      readFileSync(new URL(`../../../${eventsJsonSchemaPath}`, import.meta.url), "utf8"),
    );
    expect(committed).toEqual(JSON.parse(JSON.stringify(eventsJsonSchema())));
  });

  it("are CloudEvents 1.0 from the image definition, with the build's trace and an order among its steps", () => {
    const event = events.buildStarted({ ...origin, traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01` }, at, {
      image: image.name,
      buildId,
      version: "1.0.0",
      templateName: "ubuntu-2404-1.0.0",
      runStartedAt: at.toISOString(),
    });
    expect(pipelineEventSchema.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      specversion: "1.0",
      type: "ImagePipeline.BuildStarted",
      id: `${buildId}:started`,
      source: expect.stringMatching(/\/providers\/Microsoft\.Compute\/galleries\/[^/]+\/images\/ubuntu-2404$/),
      subject: `images/ubuntu-2404/builds/${buildId}`,
      sequence: "0200",
      traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    });
  });

  it("repeat their id when the same step is done again, and not when a recovery, rollback or promotion is a new one", () => {
    const failed = (attempt: number, region: string) =>
      events.replicationFailed(origin, at, {
        image: image.name,
        buildId,
        version: "1.0.0",
        region,
        attempt,
        maxAttempts: 3,
        recovery: "retry",
      }).id;
    expect(failed(1, "North Europe")).toBe(failed(1, "North Europe"));
    expect(new Set([failed(1, "North Europe"), failed(2, "North Europe"), failed(1, "West Europe")]).size).toBe(3);
    const promoted = (rollbacks: number) =>
      events.versionPromoted(
        origin,
        at,
        { image: image.name, buildId, version: "1.0.0", regions: [], promotedBy: "monitor" },
        rollbacks,
      );
    const rolledBack = (n: number) =>
      events.versionRolledBack(
        origin,
        at,
        {
          image: image.name,
          buildId,
          version: "1.0.0",
          reason: "r",
          rolledBackBy: "me",
          rolledBackAt: at.toISOString(),
        },
        n,
      );
    // Promoted, rolled back, promoted again, rolled back again: four steps, four ids, in that order.
    const steps = [promoted(0), rolledBack(1), promoted(1), rolledBack(2)];
    expect(new Set(steps.map((e) => e.id)).size).toBe(4);
    expect(steps.map((e) => e.sequence)).toEqual([...steps.map((e) => e.sequence)].sort());
  });

  it("refuse data that breaks their schema", () => {
    const event = events.buildRequested(origin, at, {
      image: image.name,
      buildId,
      reason: "push",
      requestedBy: "octocat",
      requestedAt: at.toISOString(),
    });
    expect(pipelineEventSchema.safeParse({ ...event, data: { ...event.data, reason: "whim" } }).success).toBe(false);
    expect(pipelineEventSchema.safeParse({ ...event, type: "ImagePipeline.Unknown" }).success).toBe(false);
    expect(pipelineEventSchema.safeParse({ ...event, specversion: "0.3" }).success).toBe(false);
  });
});
