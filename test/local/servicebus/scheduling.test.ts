import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, queueDefinition, receiveAll, startEmulator, type EmulatorFixture } from "./fixtures.js";

describe("scheduled messages and duplicate detection in the Service Bus emulator", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([
      queueDefinition("schedules"),
      queueDefinition("cancels"),
      queueDefinition("dedupes"),
      queueDefinition("no-dedupe", { requiresDuplicateDetection: false }),
      queueDefinition("short-window", { duplicateDetectionHistoryTimeWindow: "PT0.5S" }),
    ]);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("enqueues a message scheduled by scheduleMessages or by scheduledEnqueueTimeUtc only when its time comes", async () => {
    const sender = fx.client.createSender("schedules");
    const when = new Date(Date.now() + 1_000);
    const [seq] = await sender.scheduleMessages({ body: "by-management", messageId: "m1" }, when);
    await sender.sendMessages({ body: "by-annotation", messageId: "m2", scheduledEnqueueTimeUtc: when });
    await sender.close();
    expect(fx.emulator.stats("schedules")).toMatchObject({ active: 0, scheduled: 2 });

    const receiver = fx.client.createReceiver("schedules", { receiveMode: "receiveAndDelete" });
    expect(await receiver.receiveMessages(2, { maxWaitTimeInMs: 300 })).toEqual([]);
    const received = await receiveAll(receiver, 2, 5_000);
    await receiver.close();
    expect(Date.now()).toBeGreaterThanOrEqual(when.getTime());
    expect(received.map((m) => m.body).sort()).toEqual(["by-annotation", "by-management"]);
    const byManagement = received.find((m) => m.messageId === "m1")!;
    expect(byManagement.sequenceNumber!.toNumber()).toBe(seq!.toNumber());
    expect(byManagement.scheduledEnqueueTimeUtc?.getTime()).toBe(when.getTime());
    expect(byManagement.enqueuedTimeUtc?.getTime()).toBe(when.getTime());
  });

  it("cancels scheduled messages so that they are never delivered", async () => {
    const sender = fx.client.createSender("cancels");
    const seqs = await sender.scheduleMessages(
      [
        { body: "cancelled", messageId: "c1" },
        { body: "kept", messageId: "c2" },
      ],
      new Date(Date.now() + 800),
    );
    await sender.cancelScheduledMessages(seqs[0]!);
    expect(fx.emulator.stats("cancels").scheduled).toBe(1);
    await sender.close();
    const receiver = fx.client.createReceiver("cancels", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 1, 5_000);
    expect(received.map((m) => m.body)).toEqual(["kept"]);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 })).toEqual([]);
    await receiver.close();
  });

  it("drops a message whose id was seen within the window, whether sent, batched or scheduled", async () => {
    const sender = fx.client.createSender("dedupes");
    await sender.sendMessages({ body: "first", messageId: "build-42" });
    await sender.sendMessages({ body: "again", messageId: "build-42" });
    await sender.sendMessages([
      { body: "batched duplicate", messageId: "build-42" },
      { body: "other", messageId: "build-43" },
    ]);
    const later = new Date(Date.now() + 60_000);
    const [scheduled] = await sender.scheduleMessages({ body: "watch", messageId: "watch-42" }, later);
    const [scheduledAgain] = await sender.scheduleMessages({ body: "watch again", messageId: "watch-42" }, later);
    await sender.sendMessages({ body: "watch as send", messageId: "watch-42", scheduledEnqueueTimeUtc: later });
    await sender.close();
    expect(scheduledAgain!.toNumber()).toBe(scheduled!.toNumber());
    expect(fx.emulator.stats("dedupes")).toMatchObject({ active: 2, scheduled: 1 });
    const receiver = fx.client.createReceiver("dedupes", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 2);
    await receiver.close();
    expect(received.map((m) => m.body)).toEqual(["first", "other"]);
  });

  it("keeps every copy on a queue without duplicate detection", async () => {
    const sender = fx.client.createSender("no-dedupe");
    await sender.sendMessages({ body: 1, messageId: "same" });
    await sender.sendMessages({ body: 2, messageId: "same" });
    await sender.close();
    expect(fx.emulator.stats("no-dedupe").active).toBe(2);
  });

  it("forgets a message id once the duplicate detection window has passed", async () => {
    const sender = fx.client.createSender("short-window");
    await sender.sendMessages({ body: 1, messageId: "again-later" });
    await sender.sendMessages({ body: 2, messageId: "again-later" });
    expect(fx.emulator.stats("short-window").active).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await sender.sendMessages({ body: 3, messageId: "again-later" });
    await sender.close();
    await eventually(() => fx.emulator.stats("short-window").active === 2);
  });
});
