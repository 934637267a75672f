import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueDefinition, receiveAll, startEmulator, type EmulatorFixture } from "./fixtures.js";

describe("scheduled messages and duplicate detection in the Service Bus emulator", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([
      queueDefinition("schedules"),
      queueDefinition("cancels"),
      queueDefinition("dedupes"),
      queueDefinition("no-dedupe", { requiresDuplicateDetection: false }),
      queueDefinition("short-window", { duplicateDetectionHistoryTimeWindow: "PT1M" }),
    ]);
    // Time moves only when a test moves it: "not yet" is a state to check, not a wait that a slow machine outlasts.
    fx.emulator.clock.pause();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("enqueues a message scheduled by scheduleMessages or by scheduledEnqueueTimeUtc only when its time comes", async () => {
    const sender = fx.client.createSender("schedules");
    const when = new Date(fx.emulator.clock.now() + 60_000);
    const [seq] = await sender.scheduleMessages({ body: "by-management", messageId: "m1" }, when);
    await sender.sendMessages({ body: "by-annotation", messageId: "m2", scheduledEnqueueTimeUtc: when });
    await sender.close();
    expect(fx.emulator.stats("schedules")).toMatchObject({ active: 0, scheduled: 2 });
    fx.emulator.clock.advance(59_999);
    expect(fx.emulator.stats("schedules")).toMatchObject({ active: 0, scheduled: 2 }); // a millisecond early
    fx.emulator.clock.advance(1);
    expect(fx.emulator.stats("schedules")).toMatchObject({ active: 2, scheduled: 0 });

    const receiver = fx.client.createReceiver("schedules", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 2);
    await receiver.close();
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
      new Date(fx.emulator.clock.now() + 60_000),
    );
    await sender.cancelScheduledMessages(seqs[0]!);
    expect(fx.emulator.stats("cancels").scheduled).toBe(1);
    await sender.close();
    fx.emulator.clock.advance(60_000);
    const receiver = fx.client.createReceiver("cancels", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 1);
    expect(received.map((m) => m.body)).toEqual(["kept"]);
    await receiver.close();
    expect(fx.emulator.stats("cancels")).toMatchObject({ active: 0, scheduled: 0, deferred: 0 });
  });

  it("drops a message whose id was seen within the window, whether sent, batched or scheduled", async () => {
    const sender = fx.client.createSender("dedupes");
    await sender.sendMessages({ body: "first", messageId: "build-42" });
    await sender.sendMessages({ body: "again", messageId: "build-42" });
    await sender.sendMessages([
      { body: "batched duplicate", messageId: "build-42" },
      { body: "other", messageId: "build-43" },
    ]);
    const later = new Date(fx.emulator.clock.now() + 60_000);
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
    fx.emulator.clock.advance(59_999);
    await sender.sendMessages({ body: 3, messageId: "again-later" }); // still within the window
    expect(fx.emulator.stats("short-window").active).toBe(1);
    fx.emulator.clock.advance(1);
    await sender.sendMessages({ body: 4, messageId: "again-later" });
    await sender.close();
    expect(fx.emulator.stats("short-window").active).toBe(2);
  });
});
