import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import { queueDefinition, receiveAll, startEmulator, type EmulatorFixture } from "./fixtures.js";

describe("the Service Bus emulator, through the real @azure/service-bus client", () => {
  let fx: EmulatorFixture;

  beforeAll(async () => {
    fx = await startEmulator([
      queueDefinition("sends"),
      queueDefinition("settles"),
      queueDefinition("deletes"),
      queueDefinition("streams"),
      queueDefinition("peeks"),
      queueDefinition("defers"),
      queueDefinition("plain", { requiresDuplicateDetection: false }),
      queueDefinition("competes"),
    ]);
  });
  afterAll(async () => {
    await fx?.close();
  });

  describe("sending", () => {
    it("accepts a single message, an array and a batch, in order, with increasing sequence numbers", async () => {
      const sender = fx.client.createSender("sends");
      await sender.sendMessages({ body: { n: 1 }, messageId: "one", applicationProperties: { count: 7, tag: "a" } });
      await sender.sendMessages([
        { body: { n: 2 }, messageId: "two" },
        { body: { n: 3 }, messageId: "three" },
      ]);
      const batch = await sender.createMessageBatch();
      expect(batch.maxSizeInBytes).toBe(256 * 1024);
      expect(batch.tryAddMessage({ body: { n: 4 }, messageId: "four" })).toBe(true);
      expect(
        batch.tryAddMessage({ body: Buffer.from("five"), messageId: "five", contentType: "application/octet-stream" }),
      ).toBe(true);
      await sender.sendMessages(batch);
      await sender.close();

      const receiver = fx.client.createReceiver("sends", { receiveMode: "receiveAndDelete" });
      const received = await receiveAll(receiver, 5);
      await receiver.close();
      expect(received.map((m) => m.messageId)).toEqual(["one", "two", "three", "four", "five"]);
      expect(received[0]?.applicationProperties).toEqual({ count: 7, tag: "a" });
      expect(received[4]?.body).toEqual(Buffer.from("five"));
      expect(received[4]?.contentType).toBe("application/octet-stream");
      const seqs = received.map((m) => m.sequenceNumber!.toNumber());
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(5);
      for (const m of received) expect(m.enqueuedTimeUtc!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    });

    it("assigns a message id when the sender gives none", async () => {
      const sender = fx.client.createSender("plain");
      await sender.sendMessages({ body: "anonymous" });
      await sender.close();
      const receiver = fx.client.createReceiver("plain", { receiveMode: "receiveAndDelete" });
      const [message] = await receiveAll(receiver, 1);
      await receiver.close();
      expect(message?.messageId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("refuses a message over 256 KB with MessageSizeExceeded", async () => {
      const sender = fx.client.createSender("plain");
      await expect(sender.sendMessages({ body: Buffer.alloc(300 * 1024) })).rejects.toMatchObject({
        code: "MessageSizeExceeded",
      });
      await sender.close();
      expect(fx.emulator.stats("plain").active).toBe(0);
    });

    it("refuses a session receiver, since no queue here is session-enabled", async () => {
      // The SDK reports the refused attach as SessionCannotBeLocked before it reads the detach's error.
      await expect(fx.client.acceptSession("plain", "session-1")).rejects.toMatchObject({ name: "ServiceBusError" });
    });

    it("reports a queue that is not declared as MessagingEntityNotFound", async () => {
      const sender = fx.client.createSender("no-such-queue");
      await expect(sender.sendMessages({ body: "x" })).rejects.toMatchObject({ code: "MessagingEntityNotFound" });
      await sender.close();
    });
  });

  describe("peek-lock settlement", () => {
    it("completes, abandons (with properties to modify), defers and dead-letters with a reason", async () => {
      const sender = fx.client.createSender("settles");
      await sender.sendMessages(
        ["complete", "abandon", "defer", "dead-letter"].map((body) => ({ body, messageId: body })),
      );
      await sender.close();

      const receiver = fx.client.createReceiver("settles");
      const first = await receiveAll(receiver, 4);
      expect(first.map((m) => m.deliveryCount)).toEqual([0, 0, 0, 0]);
      for (const m of first) {
        expect(m.lockToken).toMatch(/^[0-9a-f-]{36}$/);
        expect(m.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now());
      }
      const byBody = (list: ServiceBusReceivedMessage[], body: string) => list.find((m) => m.body === body)!;
      await receiver.completeMessage(byBody(first, "complete"));
      await receiver.abandonMessage(byBody(first, "abandon"), { attempt: 1, reason: "transient" });
      await receiver.deferMessage(byBody(first, "defer"));
      await receiver.deadLetterMessage(byBody(first, "dead-letter"), {
        deadLetterReason: "PoisonMessage",
        deadLetterErrorDescription: "body could not be parsed",
        stage: "decode",
      });
      expect(fx.emulator.stats("settles")).toEqual({
        active: 1,
        scheduled: 0,
        deadLettered: 1,
        deferred: 1,
        locked: 0,
      });

      const [abandoned] = await receiveAll(receiver, 1);
      expect(abandoned?.body).toBe("abandon");
      expect(abandoned?.deliveryCount).toBe(1);
      expect(abandoned?.applicationProperties).toMatchObject({ attempt: 1, reason: "transient" });
      await receiver.completeMessage(abandoned!);

      const deadLetters = fx.client.createReceiver("settles", { subQueueType: "deadLetter" });
      const [dead] = await receiveAll(deadLetters, 1);
      expect(dead?.body).toBe("dead-letter");
      expect(dead?.deadLetterReason).toBe("PoisonMessage");
      expect(dead?.deadLetterErrorDescription).toBe("body could not be parsed");
      expect(dead?.applicationProperties?.["stage"]).toBe("decode");
      await deadLetters.completeMessage(dead!);
      await deadLetters.close();

      const deferredSeq = byBody(first, "defer").sequenceNumber!;
      const [deferred] = await receiver.receiveDeferredMessages(deferredSeq);
      expect(deferred?.body).toBe("defer");
      expect(deferred?.state).toBe("deferred");
      await receiver.completeMessage(deferred!);
      await receiver.close();
      expect(fx.emulator.stats("settles")).toEqual({
        active: 0,
        scheduled: 0,
        deadLettered: 0,
        deferred: 0,
        locked: 0,
      });
    });

    it("settles a message through $management once the link it came on is closed", async () => {
      const sender = fx.client.createSender("settles");
      await sender.sendMessages({ body: "late", messageId: "late" });
      await sender.close();
      const receiver = fx.client.createReceiver("settles");
      const [message] = await receiveAll(receiver, 1);
      await receiver.close();
      const other = fx.client.createReceiver("settles");
      await other.abandonMessage(message!, { settledBy: "management" });
      const [again] = await receiveAll(other, 1);
      expect(again?.applicationProperties?.["settledBy"]).toBe("management");
      await other.completeMessage(again!);
      await other.close();
      expect(fx.emulator.stats("settles").active).toBe(0);
    });

    it("abandons and dead-letters a deferred message by lock token, keeping it deferred on abandon", async () => {
      const sender = fx.client.createSender("defers");
      await sender.sendMessages({ body: "d", messageId: "d" });
      await sender.close();
      const receiver = fx.client.createReceiver("defers");
      const [message] = await receiveAll(receiver, 1);
      await receiver.deferMessage(message!);
      const [deferred] = await receiver.receiveDeferredMessages(message!.sequenceNumber!);
      await receiver.abandonMessage(deferred!, { custom: "kept" });
      const [again] = await receiver.receiveDeferredMessages(message!.sequenceNumber!);
      expect(again?.applicationProperties?.["custom"]).toBe("kept");
      await receiver.deadLetterMessage(again!, {
        deadLetterReason: "GaveUp",
        deadLetterErrorDescription: "deferred too long",
      });
      await receiver.close();
      const deadLetters = fx.client.createReceiver("defers", {
        subQueueType: "deadLetter",
        receiveMode: "receiveAndDelete",
      });
      const [dead] = await receiveAll(deadLetters, 1);
      await deadLetters.close();
      expect(dead?.deadLetterReason).toBe("GaveUp");
      expect(dead?.deadLetterErrorDescription).toBe("deferred too long");
    });

    it("answers a deferred-message lookup for a message that is not deferred with MessageNotFound", async () => {
      const sender = fx.client.createSender("defers");
      await sender.sendMessages({ body: "active", messageId: "active" });
      await sender.close();
      const receiver = fx.client.createReceiver("defers");
      const [active] = await receiver.peekMessages(1);
      await expect(receiver.receiveDeferredMessages(active!.sequenceNumber!)).rejects.toMatchObject({
        code: "MessageNotFound",
      });
      const [message] = await receiveAll(receiver, 1);
      await receiver.completeMessage(message!);
      await expect(receiver.receiveDeferredMessages(active!.sequenceNumber!)).rejects.toMatchObject({
        code: "MessageNotFound",
      });
      await receiver.close();
    });
  });

  it("removes messages on receipt in receive-and-delete mode", async () => {
    const sender = fx.client.createSender("deletes");
    await sender.sendMessages([1, 2, 3].map((n) => ({ body: n, messageId: `d${n}` })));
    await sender.close();
    const receiver = fx.client.createReceiver("deletes", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 3);
    expect(received.map((m) => m.body)).toEqual([1, 2, 3]);
    expect(received.every((m) => m.lockToken === undefined)).toBe(true);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    await receiver.close();
    expect(fx.emulator.stats("deletes")).toMatchObject({ active: 0, locked: 0 });
  });

  it("streams messages to subscribe() handlers and completes them automatically", async () => {
    const sender = fx.client.createSender("streams");
    await sender.sendMessages(Array.from({ length: 40 }, (_, i) => ({ body: i, messageId: `s${i}` })));
    const receiver = fx.client.createReceiver("streams");
    const seen: number[] = [];
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => {
          seen.push(message.body as number);
        },
        processError: async () => undefined,
      },
      { maxConcurrentCalls: 8 },
    );
    await vi.waitFor(
      () => {
        expect(seen).toHaveLength(40);
        expect(fx.emulator.stats("streams").active).toBe(0);
      },
      { timeout: 20_000, interval: 50 },
    );
    await sender.sendMessages({ body: 40, messageId: "s40" });
    await vi.waitFor(
      () => {
        expect(seen).toHaveLength(41);
        expect(fx.emulator.stats("streams").active).toBe(0);
      },
      { timeout: 20_000, interval: 50 },
    );
    await subscription.close();
    await receiver.close();
    await sender.close();
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 41 }, (_, i) => i));
  });

  it("shares a queue among competing receivers: every message is processed exactly once", async () => {
    const total = 200;
    const sender = fx.client.createSender("competes");
    for (let i = 0; i < total; i += 50) {
      await sender.sendMessages(Array.from({ length: 50 }, (_, j) => ({ body: i + j, messageId: `c${i + j}` })));
    }
    const seen: number[] = [];
    const receivers = Array.from({ length: 4 }, () => fx.client.createReceiver("competes"));
    const subscriptions = receivers.map((r) =>
      r.subscribe(
        {
          processMessage: async (m) => {
            seen.push(m.body as number);
            await new Promise((resolve) => setTimeout(resolve, 1));
          },
          processError: async () => undefined,
        },
        { maxConcurrentCalls: 16 },
      ),
    );
    // One batch receiver competes too, with the drain dance of receiveMessages.
    const batchReceiver = fx.client.createReceiver("competes");
    const drained: number[] = [];
    while (seen.length + drained.length < total) {
      const batch = await batchReceiver.receiveMessages(5, { maxWaitTimeInMs: 200 });
      for (const m of batch) {
        drained.push(m.body as number);
        await batchReceiver.completeMessage(m);
      }
    }
    await vi.waitFor(() => expect(fx.emulator.stats("competes").active).toBe(0), { timeout: 20_000, interval: 50 });
    await Promise.all(subscriptions.map((s) => s.close()));
    await Promise.all([...receivers, batchReceiver].map((r) => r.close()));
    await sender.close();
    const all = [...seen, ...drained].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it("peeks at messages in every state without locking them", async () => {
    const sender = fx.client.createSender("peeks");
    await sender.sendMessages([
      { body: "p1", messageId: "p1" },
      { body: "p2", messageId: "p2" },
    ]);
    const [scheduledSeq] = await sender.scheduleMessages(
      { body: "p3", messageId: "p3" },
      new Date(Date.now() + 3_600_000),
    );
    await sender.close();
    const receiver = fx.client.createReceiver("peeks");
    const peeked = await receiver.peekMessages(10);
    expect(peeked.map((m) => m.body)).toEqual(["p1", "p2", "p3"]);
    expect(peeked.map((m) => m.state)).toEqual(["active", "active", "scheduled"]);
    expect(peeked[2]?.sequenceNumber?.toNumber()).toBe(scheduledSeq?.toNumber());
    expect(peeked.every((m) => m.lockToken === undefined)).toBe(true);
    expect(await receiver.peekMessages(10)).toEqual([]); // the SDK continues after the last peeked one
    const fromSecond = await receiver.peekMessages(1, { fromSequenceNumber: peeked[1]!.sequenceNumber! });
    expect(fromSecond.map((m) => m.body)).toEqual(["p2"]);
    expect(fx.emulator.stats("peeks")).toMatchObject({ active: 2, scheduled: 1, locked: 0 });
    await receiver.close();
  });
});
