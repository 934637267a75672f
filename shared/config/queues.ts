import { readFileSync } from "node:fs";
import * as z from "zod";

const isoDuration = z
  .string()
  .regex(/^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/, "an ISO 8601 duration such as PT5M or P7D");

/** Properties of one queue, named as Microsoft.ServiceBus/namespaces/queues names them. */
export const queuePropertiesSchema = z
  .object({
    /** How long a peek-lock holds a message before it returns to the queue. */
    lockDuration: isoDuration,
    /** Deliveries after which the broker dead-letters a message (reason MaxDeliveryCountExceeded). */
    maxDeliveryCount: z.number().int().min(1).max(2000),
    /** Time a message may wait in the queue before it expires. */
    defaultMessageTimeToLive: isoDuration,
    /** Whether the broker drops a message whose id it has seen within the window. */
    requiresDuplicateDetection: z.boolean(),
    /** How long message ids are remembered for duplicate detection. */
    duplicateDetectionHistoryTimeWindow: isoDuration,
    /** Whether an expired message is moved to the dead-letter queue rather than dropped. */
    deadLetteringOnMessageExpiration: z.boolean(),
    /** Whether the queue is session-enabled. */
    requiresSession: z.boolean(),
    /** Queue size limit. */
    maxSizeInMegabytes: z.number().int().positive(),
  })
  .strict();

/** One queue of the pipeline. */
export const queueDefinitionSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,49}$/),
    description: z.string(),
    properties: queuePropertiesSchema,
  })
  .strict();

export const queueConfigSchema = z.object({
  $comment: z.string().optional(),
  queues: z.array(queueDefinitionSchema).min(1),
});

export type QueueProperties = z.infer<typeof queuePropertiesSchema>;
export type QueueDefinition = z.infer<typeof queueDefinitionSchema>;
export type QueueConfig = z.infer<typeof queueConfigSchema>;

/** Absolute path of the shared queue definition (also read by infra/ and the local Service Bus emulator). */
export const queueConfigPath = new URL("./queues.json", import.meta.url).pathname;

/** Reads and validates the queue definition. */
export function loadQueueConfig(path: string = queueConfigPath): QueueConfig {
  return queueConfigSchema.parse(JSON.parse(readFileSync(path, "utf8")));
}
