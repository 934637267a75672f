import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import type { Settings } from "../config/settings.js";
import { connectServiceBus } from "./serviceBus.js";

/** A dead-lettered message as the CLI shows it. */
export interface DeadLetter {
  sequenceNumber: bigint;
  messageId?: string;
  enqueuedTimeUtc?: string;
  deadLetterReason?: string;
  deadLetterErrorDescription?: string;
  body: unknown;
}

/** A queue's dead-letter sub-queue: list what is there, resubmit messages to the queue. */
export interface DeadLetterQueue {
  list(max?: number): Promise<DeadLetter[]>;
  /** Resubmits the chosen messages to the main queue (with a new message id) and removes them from the sub-queue. */
  replay(which: "all" | bigint[]): Promise<number>;
  close(): Promise<void>;
}

const toDeadLetter = (m: ServiceBusReceivedMessage): DeadLetter => ({
  sequenceNumber: BigInt(m.sequenceNumber?.toString() ?? "0"),
  messageId: m.messageId?.toString(),
  enqueuedTimeUtc: m.enqueuedTimeUtc?.toISOString(),
  deadLetterReason: m.deadLetterReason,
  deadLetterErrorDescription: m.deadLetterErrorDescription,
  body: m.body,
});

/** Opens the dead-letter sub-queue of a pipeline queue. */
export async function openDeadLetterQueue(settings: Settings, queue: string): Promise<DeadLetterQueue> {
  const client = await connectServiceBus(settings);
  return {
    async list(max = 100) {
      const receiver = client.createReceiver(queue, { subQueueType: "deadLetter" });
      try {
        return (await receiver.peekMessages(max)).map(toDeadLetter);
      } finally {
        await receiver.close();
      }
    },
    async replay(which) {
      const receiver = client.createReceiver(queue, { subQueueType: "deadLetter" });
      const sender = client.createSender(queue);
      const wanted = which === "all" ? undefined : new Set(which.map(String));
      let replayed = 0;
      const skipped = new Set<string>();
      // Ids this replay sent: a replayed message that fails again comes back to the dead-letter queue while the loop
      // runs, and must not be replayed again (`--all` looped until the id outgrew Service Bus's 128 characters).
      const sent = new Set<string>();
      try {
        for (;;) {
          const batch = await receiver.receiveMessages(50, { maxWaitTimeInMs: 1000 });
          // Messages left alone come back at once: stop when only those are left.
          if (batch.every((m) => skipped.has(m.sequenceNumber?.toString() ?? ""))) {
            for (const m of batch) await receiver.abandonMessage(m);
            break;
          }
          for (const m of batch) {
            const again = sent.has(m.messageId?.toString() ?? "");
            if (again || (wanted && !wanted.has(m.sequenceNumber?.toString() ?? ""))) {
              skipped.add(m.sequenceNumber?.toString() ?? "");
              await receiver.abandonMessage(m);
              continue;
            }
            // A new id: the original is still in the duplicate-detection window and would be dropped. It names the
            // dead letter (sequence numbers are unique), so a replay interrupted between send and complete sends the
            // same id again and duplicate detection drops it; one suffix only, so the id stays within 128 characters.
            const base = (m.messageId?.toString() ?? "message").replace(/(:replay:\d+)+$/, "");
            const messageId = `${base}:replay:${m.sequenceNumber?.toString() ?? Date.now()}`;
            sent.add(messageId);
            await sender.sendMessages({
              body: m.body,
              contentType: m.contentType,
              subject: m.subject,
              messageId,
              applicationProperties: { ...m.applicationProperties, replayedFrom: m.sequenceNumber?.toString() ?? "" },
            });
            await receiver.completeMessage(m);
            replayed++;
          }
          if (wanted && replayed >= wanted.size) break;
        }
      } finally {
        await sender.close();
        await receiver.close();
      }
      return replayed;
    },
    close: () => client.close(),
  };
}
