import { ServiceBusClient } from "@azure/service-bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureSimulation, instantSimulation, withoutThrottling } from "../../local/armAdmin.js";
import { command as dlq } from "../../cli/commands/dlq.js";
import type { CliIo } from "../../cli/command.js";
import { deriveBuildId } from "../../shared/messages/index.js";
import { aBuildRequestMessage, aCatalogImage } from "../factories.js";
import { api, eventually, startTestStack } from "../e2e/harness.js";
import { provision, repoRoot } from "./support.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

const current = aCatalogImage();
/** An image the catalog dropped while builds of it were queued. */
const retired = aCatalogImage({ name: "ubuntu-2004", definition: { sku: "20_04-lts-gen2" } });

/** The CLI's io, in memory, with the stack's settings as its environment. */
function cliIo(env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, cwd: repoRoot };
  return { io, stdout: () => out.join(""), stderr: () => err.join("") };
}

/** Poison messages: dead-lettered on their first delivery with a reason, listed and replayed with the CLI. */
describe("poison and bad messages on the local stack", () => {
  let stack: Stack;
  let client: ServiceBusClient;

  /** Peeks from the start: a client remembers where its last peek of an entity ended, so each peek has its own. */
  const deadLetters = async (queue: string) => {
    const peeker = new ServiceBusClient(stack.settings.ServiceBusConnection!);
    try {
      return await peeker.createReceiver(queue, { subQueueType: "deadLetter" }).peekMessages(50);
    } finally {
      await peeker.close();
    }
  };
  const send = async (queue: string, messages: { body: unknown; messageId: string }[]) => {
    const sender = client.createSender(queue);
    await sender.sendMessages(messages);
    await sender.close();
  };

  beforeAll(async () => {
    stack = await startTestStack({ catalog: { images: [current] } });
    await configureSimulation(stack.arm, { ...instantSimulation, ...withoutThrottling });
    await provision(stack.arm, stack.catalog);
    client = new ServiceBusClient(stack.settings.ServiceBusConnection!);
  });
  afterAll(async () => {
    await client?.close();
    await stack?.dispose();
  });

  it("dead-letters bad JSON, a schema violation and an image no longer in the catalog at once, each with its reason", async () => {
    await send("build-requests", [
      { body: "{not json", messageId: "poison-json" },
      {
        body: { ...aBuildRequestMessage(current.name, "abcdef1"), requestedAt: "yesterday" },
        messageId: "poison-schema",
      },
      { body: aBuildRequestMessage(retired.name, "0123456789abcdef"), messageId: "poison-retired" },
    ]);
    await send("build-watch", [
      {
        body: {
          ...aBuildRequestMessage(retired.name, "0123456789abcdef"),
          kind: "BuildWatch",
          version: "1.0.7",
          catalogHash: "0123456789abcdef",
          templateName: "ubuntu-2004-1.0.7",
          templateResourceGroup: "rg-image-builder",
          stagingImageId: "/subscriptions/s/resourceGroups/rg-image-builder/providers/Microsoft.Compute/images/x",
          runStartedAt: new Date().toISOString(),
          checkCount: 3,
          nextDelayInSeconds: 60,
          deadlineAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
        messageId: "poison-watch-retired",
      },
    ]);
    const requests = await eventually("three dead-lettered build requests", async () => {
      const found = await deadLetters("build-requests");
      return found.length === 3 ? found : undefined;
    });
    const [watch] = await eventually("a dead-lettered watch", async () => {
      const found = await deadLetters("build-watch");
      return found.length === 1 ? found : undefined;
    });
    const byId = Object.fromEntries(requests.map((m) => [String(m.messageId), m]));

    expect(byId["poison-json"]).toMatchObject({ deadLetterReason: "InvalidJson", deliveryCount: 0 });
    expect(byId["poison-schema"]).toMatchObject({ deadLetterReason: "SchemaValidationFailed", deliveryCount: 0 });
    expect(byId["poison-schema"]!.deadLetterErrorDescription).toContain("requestedAt");
    expect(byId["poison-retired"]).toMatchObject({ deadLetterReason: "UnknownImage", deliveryCount: 0 });
    expect(byId["poison-retired"]!.deadLetterErrorDescription).toBe("image 'ubuntu-2004' is not in the catalog");
    expect(watch).toMatchObject({ deadLetterReason: "UnknownImage", deliveryCount: 0 });
  });

  it("lists dead letters with reason and description, and replays chosen ones to the queue once the cause is fixed", async () => {
    const list = cliIo(stack.env);
    expect(await dlq.run(["list", "build-requests"], list.io)).toBe(0);
    expect(list.stdout()).toContain("3 dead-lettered message(s) in build-requests");
    expect(list.stdout()).toMatch(
      /poison-retired\n\s+reason: UnknownImage\n\s+description: image 'ubuntu-2004' is not in the catalog/,
    );
    expect(list.stdout()).toMatch(/poison-schema\n\s+reason: SchemaValidationFailed\n\s+description: requestedAt: /);

    // The image comes back to the catalog: its dead-lettered request can now be built.
    await stack.publishCatalog({ images: [...stack.catalog.images, retired] });
    const retiredRequest = (await deadLetters("build-requests")).find((m) => m.messageId === "poison-retired")!;
    const replay = cliIo(stack.env);
    expect(await dlq.run(["replay", "build-requests", String(retiredRequest.sequenceNumber)], replay.io)).toBe(0);
    expect(replay.stdout()).toContain("replayed 1 message(s) to build-requests");

    const left = await deadLetters("build-requests");
    expect(left.map((m) => m.messageId).sort()).toEqual(["poison-json", "poison-schema"]);
    const buildId = deriveBuildId({ image: retired.name, commit: "0123456789abcdef" });
    const status = await eventually("the replayed build to be published", async () => {
      const r = await api(stack, `/builds/${buildId}`);
      return r.status === 200 && ["replicating", "promoted"].includes(r.body.stage) ? r.body : undefined;
    });
    expect(status).toMatchObject({ image: retired.name, version: "1.0.0" });

    // `--all` empties the dead-letter queue; messages that are still poison come straight back to it.
    const all = cliIo(stack.env);
    expect(await dlq.run(["replay", "build-requests", "--all"], all.io)).toBe(0);
    expect(all.stdout()).toContain("replayed 2 message(s) to build-requests");
    const again = await eventually("the poison to be dead-lettered again", async () => {
      const found = await deadLetters("build-requests");
      return found.length === 2 ? found : undefined;
    });
    expect(again.map((m) => m.deadLetterReason).sort()).toEqual(["InvalidJson", "SchemaValidationFailed"]);
  });
});
