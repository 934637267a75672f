import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import { queueDefinition, receiveAll, startEmulator, type EmulatorFixture } from "./fixtures.js";

describe("locks, delivery counts and expiry in the Service Bus emulator", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([
      queueDefinition("renews", { lockDuration: "PT5M" }),
      queueDefinition("poison", { lockDuration: "PT1M", maxDeliveryCount: 3 }),
      queueDefinition("expires", { deadLetteringOnMessageExpiration: true }),
      queueDefinition("drops", { deadLetteringOnMessageExpiration: false }),
      queueDefinition("short-ttl", { defaultMessageTimeToLive: "PT30S" }),
      queueDefinition("deferred-ttl", { deadLetteringOnMessageExpiration: true }),
    ]);
    // Time moves only when a test moves it: no lock or time to live runs out because the machine is slow.
    fx.emulator.clock.pause();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("renews a lock on request, and answers MessageLockLost once the lock has run out", async () => {
    const sender = fx.client.createSender("renews");
    await sender.sendMessages({ body: "work", messageId: "work" });
    await sender.close();
    const receiver = fx.client.createReceiver("renews", { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiveAll(receiver, 1);
    const firstLockedUntil = message!.lockedUntilUtc!.getTime();
    expect(firstLockedUntil).toBe(fx.emulator.clock.now() + 5 * 60_000);
    fx.emulator.clock.advance(60_000);
    const renewedUntil = await receiver.renewMessageLock(message!);
    expect(renewedUntil.getTime()).toBe(firstLockedUntil + 60_000);
    fx.emulator.clock.advance(4 * 60_000 + 30_000); // past the first lock, within the renewed one
    expect(fx.emulator.stats("renews").locked).toBe(1);
    fx.emulator.clock.advance(30_000); // the renewed lock's last moment
    expect(fx.emulator.stats("renews").locked).toBe(0);
    await expect(receiver.completeMessage(message!)).rejects.toMatchObject({ code: "MessageLockLost" });
    await expect(receiver.renewMessageLock(message!)).rejects.toMatchObject({ code: "MessageLockLost" });

    const [redelivered] = await receiveAll(receiver, 1);
    expect(redelivered?.messageId).toBe("work");
    expect(redelivered?.deliveryCount).toBe(1); // the lost lock counted as a delivery
    await receiver.completeMessage(redelivered!);
    await receiver.close();
  });

  it("redelivers a failing message until maxDeliveryCount, then dead-letters it as the service does", async () => {
    const sender = fx.client.createSender("poison");
    await sender.sendMessages({ body: "poison", messageId: "poison" });
    await sender.close();
    const receiver = fx.client.createReceiver("poison", { maxAutoLockRenewalDurationInMs: 0 });
    const counts: number[] = [];
    const [first] = await receiveAll(receiver, 1);
    counts.push(first!.deliveryCount!);
    await receiver.abandonMessage(first!);
    const [second] = await receiveAll(receiver, 1);
    counts.push(second!.deliveryCount!);
    // The third attempt is not settled at all: its lock runs out, which also counts.
    fx.emulator.clock.advance(60_000); // the second attempt's lock runs out
    const [third] = await receiveAll(receiver, 1);
    counts.push(third!.deliveryCount!);
    expect(counts).toEqual([0, 1, 2]);
    fx.emulator.clock.advance(60_000);

    const deadLetters = fx.client.createReceiver("poison", { subQueueType: "deadLetter" });
    const [dead] = await receiveAll(deadLetters, 1);
    expect(dead?.messageId).toBe("poison");
    expect(dead?.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    expect(dead?.deadLetterErrorDescription).toBe("Message could not be consumed after 3 delivery attempts.");
    expect(dead?.deliveryCount).toBe(3);
    await deadLetters.completeMessage(dead!);
    await deadLetters.close();
    expect(fx.emulator.stats("poison")).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    await receiver.close();
  });

  it("dead-letters an expired message with TTLExpiredException, or drops it, as the queue says", async () => {
    for (const queue of ["expires", "drops"]) {
      const sender = fx.client.createSender(queue);
      await sender.sendMessages({ body: "stale", messageId: "stale", timeToLive: 60_000 });
      await sender.close();
    }
    fx.emulator.clock.advance(59_000);
    expect(fx.emulator.stats("expires")).toMatchObject({ active: 1, deadLettered: 0 });
    fx.emulator.clock.advance(1_000);
    expect(fx.emulator.stats("expires")).toMatchObject({ active: 0, deadLettered: 1 });
    expect(fx.emulator.stats("drops")).toMatchObject({ active: 0, deadLettered: 0 });
    const deadLetters = fx.client.createReceiver("expires", {
      subQueueType: "deadLetter",
      receiveMode: "receiveAndDelete",
    });
    const [dead] = await receiveAll(deadLetters, 1);
    await deadLetters.close();
    expect(dead?.deadLetterReason).toBe("TTLExpiredException");
    expect(dead?.deadLetterErrorDescription).toBe("The message expired and was dead lettered.");
  });

  // Source: "Deferred messages won't be purged and moved to the dead-letter queue after they expire. This behavior is
  // by design." (Microsoft Learn, Service Bus dead-letter queues, "Time to live").
  it("keeps a deferred message past its time to live, while an active one sent with it expires", async () => {
    const sender = fx.client.createSender("deferred-ttl");
    await sender.sendMessages([
      { body: "deferred", messageId: "deferred", timeToLive: 60_000 },
      { body: "active", messageId: "active", timeToLive: 60_000 },
    ]);
    await sender.close();
    const receiver = fx.client.createReceiver("deferred-ttl");
    const [first] = await receiveAll(receiver, 1);
    expect(first?.messageId).toBe("deferred");
    await receiver.deferMessage(first!);
    fx.emulator.clock.advance(60_000);
    expect(fx.emulator.stats("deferred-ttl")).toMatchObject({ deferred: 1, active: 0, deadLettered: 1 });
    const [deferred] = await receiver.receiveDeferredMessages(first!.sequenceNumber!);
    expect(deferred?.messageId).toBe("deferred");
    await receiver.completeMessage(deferred!);
    await receiver.close();
  });

  it("applies the queue's default time to live when the message sets none", async () => {
    const sender = fx.client.createSender("short-ttl");
    await sender.sendMessages({ body: "soon gone", messageId: "soon" });
    await sender.close();
    fx.emulator.clock.advance(29_000);
    expect(fx.emulator.stats("short-ttl")).toMatchObject({ active: 1, deadLettered: 0 });
    fx.emulator.clock.advance(1_000);
    expect(fx.emulator.stats("short-ttl")).toMatchObject({ active: 0, deadLettered: 1 });
  });
});

describe("auto lock renewal against the Service Bus emulator", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([queueDefinition("long-handlers", { lockDuration: "PT4S" })]);
    fx.emulator.clock.pause();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("keeps a message locked for a handler that outlives the lock duration", async () => {
    const lockDurationInMs = 4_000;
    const sender = fx.client.createSender("long-handlers");
    await sender.sendMessages([1, 2, 3].map((n) => ({ body: n, messageId: `long-${n}` })));
    await sender.close();
    const receiver = fx.client.createReceiver("long-handlers", { maxAutoLockRenewalDurationInMs: 10 * 60_000 });
    const deliveries: ServiceBusReceivedMessage[] = [];
    const errors: unknown[] = [];
    let finishHandlers!: () => void;
    const handlersMayFinish = new Promise<void>((resolve) => (finishHandlers = resolve));
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => {
          deliveries.push(message);
          await handlersMayFinish;
        },
        processError: async (args) => {
          errors.push(args.error);
        },
      },
      { maxConcurrentCalls: 3 },
    );
    await vi.waitFor(() => expect(deliveries).toHaveLength(3), { timeout: 20_000, interval: 50 });
    // The receiver renews on its own timers; the emulator's time moves only once every lock was renewed at the
    // current time, and by less than a lock duration, so no lock can run out however slow the machine. The
    // handlers end 9 s of emulator time after they started: more than twice the lock duration.
    for (let step = 0; step < 3; step++) {
      const now = fx.emulator.clock.now();
      await vi.waitFor(
        () => {
          for (const m of deliveries)
            expect(m.lockedUntilUtc!.getTime()).toBeGreaterThanOrEqual(now + lockDurationInMs);
        },
        { timeout: 20_000, interval: 50 },
      );
      fx.emulator.clock.advance(lockDurationInMs - 1_000);
      expect(fx.emulator.stats("long-handlers").locked).toBe(3);
    }
    finishHandlers();
    await vi.waitFor(() => expect(fx.emulator.stats("long-handlers").active).toBe(0), { timeout: 20_000 });
    await subscription.close();
    await receiver.close();
    expect(deliveries.map((m) => m.deliveryCount)).toEqual([0, 0, 0]);
    expect(errors).toEqual([]);
  });
});

/**
 * Source: "Whenever a message has been delivered under a peek-lock, but has been either explicitly abandoned or the
 * lock has expired, the delivery count on the message is incremented. When the delivery count exceeds the limit, the
 * message is moved to the DLQ" (Microsoft Learn, Service Bus dead-letter queues, "Maximum delivery count"); a lock
 * does not outlive its connection ("the lock is dropped", Microsoft Learn, Message transfers, locks, and settlement).
 */
describe("locks lost to a restart of the Service Bus emulator", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([
      queueDefinition("restarted", { lockDuration: "PT30S" }),
      queueDefinition("restarted-poison", { lockDuration: "PT1M", maxDeliveryCount: 3 }),
    ]);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("counts a message locked when the emulator restarted as delivered once more", async () => {
    const sender = fx.client.createSender("restarted");
    await sender.sendMessages([
      { body: "locked", messageId: "locked" },
      { body: "waiting", messageId: "waiting" },
    ]);
    await sender.close();
    const receiver = fx.client.createReceiver("restarted", { maxAutoLockRenewalDurationInMs: 0 });
    const [locked] = await receiveAll(receiver, 1);
    expect(locked?.messageId).toBe("locked");
    expect(locked?.deliveryCount).toBe(0);

    await fx.restart();

    expect(fx.emulator.stats("restarted")).toMatchObject({ active: 2, locked: 0 });
    await expect(receiver.completeMessage(locked!)).rejects.toMatchObject({ code: "MessageLockLost" });
    const received = await receiveAll(receiver, 2);
    expect(received.map((m) => [m.messageId, m.deliveryCount])).toEqual([
      ["locked", 1],
      ["waiting", 0],
    ]);
    for (const m of received) await receiver.completeMessage(m);
    await receiver.close();
  });

  it("dead-letters with MaxDeliveryCountExceeded once locks lost to restarts and to expiry reach maxDeliveryCount", async () => {
    const sender = fx.client.createSender("restarted-poison");
    await sender.sendMessages({ body: "poison", messageId: "poison" });
    await sender.close();
    const receiver = fx.client.createReceiver("restarted-poison", { maxAutoLockRenewalDurationInMs: 0 });
    const counts: number[] = [];
    counts.push((await receiveAll(receiver, 1))[0]!.deliveryCount!);
    await fx.restart(); // the first lock is lost to the restart
    counts.push((await receiveAll(receiver, 1))[0]!.deliveryCount!);
    fx.emulator.clock.advance(60_000); // the second one expires
    counts.push((await receiveAll(receiver, 1))[0]!.deliveryCount!);
    expect(counts).toEqual([0, 1, 2]);

    await fx.restart(); // the third lock is lost to a restart: three delivery attempts

    expect(fx.emulator.stats("restarted-poison")).toMatchObject({ active: 0, deadLettered: 1 });
    const deadLetters = fx.client.createReceiver("restarted-poison", { subQueueType: "deadLetter" });
    const [dead] = await receiveAll(deadLetters, 1);
    expect(dead?.messageId).toBe("poison");
    expect(dead?.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    expect(dead?.deadLetterErrorDescription).toBe("Message could not be consumed after 3 delivery attempts.");
    expect(dead?.deliveryCount).toBe(3);
    await deadLetters.completeMessage(dead!);
    await deadLetters.close();
    await receiver.close();
  });

  it("does not count a message deferred before the restart: its settlement ended the lock", async () => {
    const sender = fx.client.createSender("restarted");
    await sender.sendMessages({ body: "deferred", messageId: "deferred" });
    await sender.close();
    const receiver = fx.client.createReceiver("restarted", { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiveAll(receiver, 1);
    await receiver.deferMessage(first!);

    await fx.restart();

    const [deferred] = await receiver.receiveDeferredMessages(first!.sequenceNumber!);
    expect(deferred?.deliveryCount).toBe(0);
    await receiver.completeMessage(deferred!);
    await receiver.close();
  });
});
