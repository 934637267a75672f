import { ServiceBusClient } from "@azure/service-bus";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import type { ReceivedEvent } from "../../local/eventgrid/index.js";
import { provisionGalleries } from "../../local/provision.js";
import { pipelineEventSchema, type PipelineEvent } from "../../shared/events/schema.js";
import { deriveBuildId } from "../../shared/messages/index.js";
import type { MessageSender } from "../../shared/ports.js";
import type { Pipeline } from "../../functions/composition.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

/** The events of one build the topic received, in arrival order. */
const eventsOf = (stack: Stack, buildId: string): PipelineEvent[] =>
  stack.eventGrid
    .events()
    .map((e: ReceivedEvent) => e.event as unknown as PipelineEvent)
    .filter((e) => (e.data as { buildId?: string }).buildId === buildId);

/** The first arrival of each id, in arrival order: what a consumer that drops repeated ids sees. */
const deduplicated = (events: PipelineEvent[]) =>
  events.filter((e, i) => events.findIndex((other) => other.id === e.id) === i);

/** A pipeline whose `events` sends fail once per event type listed (as if the step died right before sending). */
function failingOnce(pipeline: Pipeline, types: string[]): Pipeline {
  const pending = new Set(types.map((t) => `ImagePipeline.${t}`));
  return {
    ...pipeline,
    async deps(log, expectation) {
      const deps = await pipeline.deps(log, expectation);
      const bus: MessageSender = {
        async send(queue, message, options) {
          const type = (message as { type?: string }).type;
          if (queue === "events" && type && pending.delete(type)) {
            throw new Error(`injected: the step stopped before sending ${type}`);
          }
          await deps.bus.send(queue, message, options);
        },
      };
      return { ...deps, bus };
    },
  };
}

describe("the pipeline's events on the local stack", () => {
  let stack: Stack;
  const image = "ubuntu-2404";

  async function monitorUntil(buildId: string, stage: string) {
    return eventually(
      `build ${buildId} to be ${stage}`,
      async () => {
        await stack.host.invokeTimer("monitorReplication");
        const { body } = await api(stack, `/builds/${buildId}`);
        return body?.stage === stage ? body : undefined;
      },
      20_000,
    );
  }

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  beforeEach(async () => {
    stack.replacePipeline(undefined);
    await configureSimulation(stack.arm, instantSimulation);
    await armAdmin(stack.arm, "DELETE", "rules");
    await provisionGalleries(stack.arm, stack.catalog);
  });

  it("publishes one build's events in order, CloudEvents 1.0 with stable ids derived from the build and step", async () => {
    const { body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1" }),
    });
    const { buildId } = body;
    const promoted = await monitorUntil(buildId, "promoted");
    const steps = ["requested", "started", "published", "promoted"];
    const received = await eventually("the promotion's event", async () => {
      const events = deduplicated(eventsOf(stack, buildId));
      return events.length === steps.length ? events : undefined;
    });
    expect(received.map((e) => e.id)).toEqual(steps.map((s) => `${buildId}:${s}`));
    expect(received.map((e) => e.type)).toEqual([
      "ImagePipeline.BuildRequested",
      "ImagePipeline.BuildStarted",
      "ImagePipeline.VersionPublished",
      "ImagePipeline.VersionPromoted",
    ]);
    // Each is a valid event of its type; the order is also in their sequence attribute, for consumers.
    for (const event of received) expect(pipelineEventSchema.safeParse(event).success).toBe(true);
    const sequences = received.map((e) => e.sequence);
    expect([...sequences].sort()).toEqual(sequences);
    expect(received[3]!.data).toMatchObject({ image, buildId, version: promoted.version, promotedBy: "monitor" });
    expect(received[0]!.source).toMatch(/\/providers\/Microsoft\.Compute\/galleries\/[^/]+\/images\/ubuntu-2404$/);

    // The same request again (a CI retry) repeats the requested step's id: nothing new for consumers.
    await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1" }),
    });
    await stack.host.invokeTimer("monitorReplication");
    expect(deduplicated(eventsOf(stack, buildId)).map((e) => e.id)).toEqual(steps.map((s) => `${buildId}:${s}`));
  });

  it("still delivers each step's event when the step stops right before sending it: every id, one event per id", async () => {
    stack.replacePipeline(
      failingOnce(stack.pipeline, ["BuildRequested", "BuildStarted", "VersionPublished", "VersionPromoted"]),
    );
    const request = {
      method: "POST",
      body: JSON.stringify({ image, commit: "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2" }),
    };
    // The webhook's step stops: the CI system is told (500) and asks again, which is the same build.
    expect((await api(stack, "/builds", request)).status).toBe(500);
    const { body } = await api(stack, "/builds", request);
    expect(body.status).toBe("queued");
    const { buildId } = body;
    // startBuild and publishVersion stop after their change: their messages come back and send the events again;
    // the monitor stops after the promotion: its next sweep finds the promoted version's template and sends it.
    await monitorUntil(buildId, "promoted");
    const steps = ["requested", "started", "published", "promoted"];
    const received = await eventually("every step's event", async () => {
      await stack.host.invokeTimer("monitorReplication");
      const events = eventsOf(stack, buildId);
      return steps.every((s) => events.some((e) => e.id === `${buildId}:${s}`)) ? events : undefined;
    });
    // Repeats (if any) are the same event: same type, subject and data.
    for (const id of new Set(received.map((e) => e.id))) {
      const same = received.filter((e) => e.id === id);
      for (const e of same)
        expect({ type: e.type, subject: e.subject }).toEqual({ type: same[0]!.type, subject: same[0]!.subject });
    }
    expect([...new Set(received.map((e) => e.id))].sort()).toEqual(steps.map((s) => `${buildId}:${s}`).sort());
    // Nothing was given up on along the way.
    expect(stack.serviceBus.stats("events").deadLettered).toBe(0);
  });

  it("retries what the topic answers 401, 429 or 5xx until it publishes, and dead-letters a 400 with Event Grid's reason", async () => {
    const before = stack.eventGrid.counters();
    // Throttled twice (the client waits Retry-After and tries again itself); then 503 beyond the client's own retries
    // (1 + 3), then a 401 (not retried by the client): both go back to the queue.
    stack.eventGrid.inject({ status: 429, count: 2, retryAfterInSeconds: 0, message: "Too Many Events" });
    stack.eventGrid.inject({ status: 503, count: 4 });
    stack.eventGrid.inject({ status: 401, count: 1, message: "The request authorization key is not authorized" });
    const { body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3" }),
    });
    await eventually(
      "the requested event after the faults",
      async () => eventsOf(stack, body.buildId).find((e) => e.id === `${body.buildId}:requested`),
      60_000,
    );
    const after = stack.eventGrid.counters();
    expect((after.refused["503"] ?? 0) - (before.refused["503"] ?? 0)).toBe(4);
    expect((after.refused["401"] ?? 0) - (before.refused["401"] ?? 0)).toBe(1);
    expect((after.refused["429"] ?? 0) - (before.refused["429"] ?? 0)).toBe(2);

    // A refusal of the event itself: dead-lettered at once with the status and Event Grid's message. Aimed at that
    // event: the first build's later events may still be on their way (redelivered after the faults above).
    const commit = "b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4";
    stack.eventGrid.inject({
      status: 400,
      count: 1,
      eventId: `${deriveBuildId({ image, commit })}:requested`,
      message: "the event does not conform to the expected schema",
    });
    const second = await api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, commit }) });
    const client = new ServiceBusClient(stack.settings.ServiceBusConnection!);
    const receiver = client.createReceiver("events", { subQueueType: "deadLetter" });
    try {
      const [dead] = await eventually("the refused event in the dead-letter queue", async () => {
        const found = (await receiver.peekMessages(50)).filter(
          (m) => m.messageId === `${second.body.buildId}:requested`,
        );
        return found.length ? found : undefined;
      });
      expect(dead!.deadLetterReason).toBe("EventRejected");
      expect(dead!.deadLetterErrorDescription).toContain("400");
      expect(dead!.deadLetterErrorDescription).toContain("does not conform to the expected schema");
    } finally {
      await receiver.close();
      await client.close();
    }
  }, 90_000);
});
