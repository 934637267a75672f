import { readFileSync } from "node:fs";
import * as z from "zod";
import { LocalHostConfigurationError } from "./errors.js";

/** Parses a .NET TimeSpan as host.json writes it (`hh:mm:ss`, `d.hh:mm:ss`, optional `.fffffff`) into ms. */
export function parseTimeSpanInMs(text: string): number {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(text.trim());
  if (!m) throw new LocalHostConfigurationError(`"${text}" is not a TimeSpan (hh:mm:ss or d.hh:mm:ss)`);
  const [, days = "0", hours = "0", minutes = "0", seconds = "0", fraction = ""] = m;
  if (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59) {
    throw new LocalHostConfigurationError(`"${text}" is not a TimeSpan: a field is out of range`);
  }
  const fractionInMs = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return Math.round(
    ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000 + fractionInMs,
  );
}

const timeSpan = z.string().transform((text, ctx) => {
  try {
    return parseTimeSpanInMs(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/** The parts of host.json the local host honours; defaults are those of the Service Bus extension 5.x. */
export const hostJsonSchema = z.object({
  version: z.literal("2.0").optional(),
  functionTimeout: z.string().optional(),
  extensions: z
    .object({
      http: z.object({ routePrefix: z.string().default("api") }).prefault({}),
      serviceBus: z
        .object({
          prefetchCount: z.number().int().min(0).default(0),
          autoCompleteMessages: z.boolean().default(true),
          maxAutoLockRenewalDuration: timeSpan.default(5 * 60_000),
          maxConcurrentCalls: z.number().int().positive().default(16),
          // Retries of service calls (connecting included); the extension's defaults, not the JS SDK's 30 s fixed delay.
          clientRetryOptions: z
            .object({
              mode: z
                .string()
                .transform((m) => m.toLowerCase())
                .pipe(z.enum(["exponential", "fixed"]))
                .default("exponential"),
              tryTimeout: timeSpan.default(60_000),
              delay: timeSpan.default(800),
              maxDelay: timeSpan.default(60_000),
              maxRetries: z.number().int().min(0).default(3),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
});

/** host.json after defaults: durations in ms. */
export type HostJson = z.infer<typeof hostJsonSchema>;

/** Validates a parsed host.json and fills in the extension defaults. */
export function parseHostJson(raw: unknown): HostJson {
  const result = hostJsonSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new LocalHostConfigurationError(`invalid host.json: ${problems.join("; ")}`);
  }
  return result.data;
}

/** Reads and validates the repository's host.json. */
export function readHostJson(path: string | URL = new URL("../../host.json", import.meta.url)): HostJson {
  return parseHostJson(JSON.parse(readFileSync(path, "utf8")));
}
