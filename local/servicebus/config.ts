import { readFileSync } from "node:fs";
import { parse as parseDuration, type Duration } from "tinyduration";
import * as z from "zod";

/** Thrown at start when the queue declaration cannot be served; `code` names the reason. */
export class EmulatorConfigError extends Error {
  readonly code = "EmulatorConfigError";
  constructor(message: string) {
    super(message);
    this.name = "EmulatorConfigError";
  }
}

/**
 * Milliseconds of an ISO 8601 duration (`PT5M`, `P7D`, `P10675199DT2H48M5.4775807S`), read by tinyduration. Years and
 * months are refused (their length is ambiguous and Azure's own values never use them for queues), and so are
 * negative durations.
 */
export function parseIsoDurationInMs(text: string): number {
  const refuse = () =>
    new EmulatorConfigError(`'${text}' is not an ISO 8601 duration such as PT5M or P7D (years/months unsupported)`);
  let d: Duration;
  try {
    d = parseDuration(text);
  } catch {
    throw refuse();
  }
  const parts = [d.weeks, d.days, d.hours, d.minutes, d.seconds];
  if (d.negative || d.years || d.months || parts.some((n) => n !== undefined && n < 0)) throw refuse();
  const { weeks = 0, days = 0, hours = 0, minutes = 0, seconds = 0 } = d;
  return Math.round((((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000);
}

const isoDuration = z.string().refine(
  (s) => {
    try {
      parseIsoDurationInMs(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: "an ISO 8601 duration such as PT5M or P7D" },
);

/**
 * Properties of one queue, named as Microsoft.ServiceBus/namespaces/queues names them; defaults are the service's.
 */
export const emulatorQueuePropertiesSchema = z.object({
  lockDuration: isoDuration.default("PT1M"),
  maxDeliveryCount: z.number().int().min(1).max(2000).default(10),
  defaultMessageTimeToLive: isoDuration.default("P10675199DT2H48M5.4775807S"),
  requiresDuplicateDetection: z.boolean().default(false),
  duplicateDetectionHistoryTimeWindow: isoDuration.default("PT10M"),
  deadLetteringOnMessageExpiration: z.boolean().default(false),
  requiresSession: z.boolean().default(false),
  maxSizeInMegabytes: z.number().int().positive().default(1024),
});

/** One queue to declare at start: `{ name, properties }` as in a queue definition file (extra keys are ignored). */
export const emulatorQueueDefinitionSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(260)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/, "letters, digits, '.', '-', '_' and '/' only"),
  properties: emulatorQueuePropertiesSchema.default(emulatorQueuePropertiesSchema.parse({})),
});

/** A queue definition file: `{ "queues": [ ... ] }`. */
export const emulatorQueueConfigSchema = z.object({ queues: z.array(emulatorQueueDefinitionSchema) });

/** A queue as callers declare it (properties optional, service defaults apply). */
export type EmulatorQueueDefinition = z.input<typeof emulatorQueueDefinitionSchema>;

/** A queue's settings as the broker uses them, durations in milliseconds. */
export interface QueueSettings {
  name: string;
  lockDurationInMs: number;
  maxDeliveryCount: number;
  /** `Infinity` for the service's default (TimeSpan.MaxValue). */
  defaultMessageTimeToLiveInMs: number;
  requiresDuplicateDetection: boolean;
  duplicateDetectionHistoryTimeWindowInMs: number;
  deadLetteringOnMessageExpiration: boolean;
  maxSizeInBytes: number;
}

/** Beyond this a duration is "forever": timers and dates cannot represent TimeSpan.MaxValue anyway. */
const foreverInMs = 10_000 * 365 * 24 * 3_600_000;

/**
 * Validates queue declarations and turns them into broker settings. Refuses what the emulator does not serve
 * (sessions) with an {@link EmulatorConfigError}; lock durations under the service's 5 s minimum are allowed
 * (tests need them) but reported through `warn`.
 */
export function toQueueSettings(
  queues: readonly EmulatorQueueDefinition[],
  warn: (message: string) => void = () => undefined,
): QueueSettings[] {
  const seen = new Set<string>();
  return queues.map((raw) => {
    const parsed = emulatorQueueDefinitionSchema.safeParse(raw);
    if (!parsed.success) {
      const where = typeof raw === "object" && raw && "name" in raw ? String(raw.name) : "?";
      throw new EmulatorConfigError(`queue '${where}': ${z.prettifyError(parsed.error)}`);
    }
    const { name, properties: p } = parsed.data;
    const key = name.toLowerCase();
    if (seen.has(key)) throw new EmulatorConfigError(`queue '${name}' is declared twice`);
    seen.add(key);
    if (p.requiresSession) {
      throw new EmulatorConfigError(
        `queue '${name}' requires sessions; the local Service Bus emulator does not support session-enabled queues`,
      );
    }
    const lockDurationInMs = parseIsoDurationInMs(p.lockDuration);
    if (lockDurationInMs < 5_000) {
      warn(`queue '${name}': lockDuration ${p.lockDuration} is below Azure's minimum of PT5S (allowed here for tests)`);
    }
    if (lockDurationInMs > 300_000) {
      throw new EmulatorConfigError(`queue '${name}': lockDuration ${p.lockDuration} exceeds Azure's maximum of PT5M`);
    }
    if (lockDurationInMs <= 0) throw new EmulatorConfigError(`queue '${name}': lockDuration must be positive`);
    const ttl = parseIsoDurationInMs(p.defaultMessageTimeToLive);
    return {
      name,
      lockDurationInMs,
      maxDeliveryCount: p.maxDeliveryCount,
      defaultMessageTimeToLiveInMs: ttl >= foreverInMs ? Infinity : ttl,
      requiresDuplicateDetection: p.requiresDuplicateDetection,
      duplicateDetectionHistoryTimeWindowInMs: parseIsoDurationInMs(p.duplicateDetectionHistoryTimeWindow),
      deadLetteringOnMessageExpiration: p.deadLetteringOnMessageExpiration,
      maxSizeInBytes: p.maxSizeInMegabytes * 1024 * 1024,
    };
  });
}

/** Reads a queue definition file (`{ "queues": [...] }`, other top-level keys ignored). */
export function readQueueDefinitions(path: string): EmulatorQueueDefinition[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new EmulatorConfigError(`cannot read queue definitions from ${path}: ${(error as Error).message}`);
  }
  const parsed = emulatorQueueConfigSchema.safeParse(json);
  if (!parsed.success) throw new EmulatorConfigError(`${path}: ${z.prettifyError(parsed.error)}`);
  return parsed.data.queues;
}
