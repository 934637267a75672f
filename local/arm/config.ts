import * as z from "zod";

/** Image Builder run sub-states in the order a run walks them. */
export const runSubStates = ["Queued", "Building", "Customizing", "Optimizing", "Validating", "Distributing"] as const;
export type RunSubState = (typeof runSubStates)[number];

const phaseDurationsSchema = z.object({
  Queued: z.number().int().min(0),
  Building: z.number().int().min(0),
  Customizing: z.number().int().min(0),
  Optimizing: z.number().int().min(0),
  Validating: z.number().int().min(0),
  Distributing: z.number().int().min(0),
});
export type PhaseDurations = z.infer<typeof phaseDurationsSchema>;

const bucketSchema = z.object({ burst: z.number().int().min(1), perSecond: z.number().min(0) });
export type BucketConfig = z.infer<typeof bucketSchema>;

/** Everything an admin call can tune; `PUT /_emulator/config` deep-merges a partial of it. */
export const emulatorConfigSchema = z.object({
  /** `Retry-After` on 201/202 answers and on operation status polls; 0 lets the client's `updateIntervalInMs` rule. */
  retryAfterInSeconds: z.number().int().min(0),
  /** Items per page of every list operation. */
  pageSize: z.number().int().min(1).max(10_000),
  /** When true a resource group springs into existence with the first resource put into it. */
  implicitResourceGroups: z.boolean(),
  /** How long plain LROs (galleries, definitions, managed images, template create/delete) stay InProgress. */
  operationDurationInMs: z.number().int().min(0),
  replication: z.object({
    /** Time for one target region to replicate; regions replicate one after the other. */
    regionDurationInMs: z.number().int().min(0),
    /** Probability (0..1) that one region's replication attempt fails. */
    failureRate: z.number().min(0).max(1),
  }),
  imageBuilder: z.object({
    phaseDurationsInMs: phaseDurationsSchema,
    /** Probability (0..1) that a run fails (at Customizing). */
    failureRate: z.number().min(0).max(1),
    cancelDurationInMs: z.number().int().min(0),
  }),
  throttling: z.object({
    enabled: z.boolean(),
    reads: bucketSchema,
    writes: bucketSchema,
    deletes: bucketSchema,
  }),
  faults: z.object({
    /** Added to every non-admin request before it is answered. */
    latencyInMs: z.number().int().min(0),
    /** Probability (0..1) per request of an injected error, by HTTP status. */
    rates: z.object({
      "429": z.number().min(0).max(1),
      "500": z.number().min(0).max(1),
      "503": z.number().min(0).max(1),
    }),
    /** When non-empty, random faults only hit these operations (e.g. `GalleryImageVersions_Get`). */
    operations: z.array(z.string()),
  }),
});
export type EmulatorConfig = z.infer<typeof emulatorConfigSchema>;

export function defaultConfig(): EmulatorConfig {
  return {
    retryAfterInSeconds: 0,
    pageSize: 100,
    implicitResourceGroups: true,
    operationDurationInMs: 0,
    replication: { regionDurationInMs: 1000, failureRate: 0 },
    imageBuilder: {
      phaseDurationsInMs: {
        Queued: 200,
        Building: 500,
        Customizing: 1000,
        Optimizing: 200,
        Validating: 300,
        Distributing: 500,
      },
      failureRate: 0,
      cancelDurationInMs: 200,
    },
    throttling: {
      enabled: false,
      reads: { burst: 250, perSecond: 25 },
      writes: { burst: 200, perSecond: 10 },
      deletes: { burst: 200, perSecond: 10 },
    },
    faults: { latencyInMs: 0, rates: { "429": 0, "500": 0, "503": 0 }, operations: [] },
  };
}

/** Per-version simulation rule: durations and scripted region failures for versions it matches. */
export const versionRuleSchema = z.object({
  /** Globs (`*` wildcard, case-insensitive) on gallery, image definition and version names; absent = any. */
  gallery: z.string().optional(),
  imageDefinition: z.string().optional(),
  version: z.string().optional(),
  regionDurationInMs: z.number().int().min(0).optional(),
  /** Region whose replication attempts fail (display or short name: "West Europe" or "westeurope"). */
  failRegion: z.string().optional(),
  /** How many attempts fail before the region replicates (default 1); retries beyond that succeed. */
  failTimes: z.number().int().min(0).optional(),
  failureMessage: z.string().optional(),
});
export type VersionRule = z.infer<typeof versionRuleSchema>;

/** Per-template simulation rule: phase durations and scripted run failures for templates it matches. */
export const templateRuleSchema = z.object({
  /** Glob on the template name; absent = any. */
  templateName: z.string().optional(),
  /** Matches templates carrying this tag (value optional = any value). */
  tag: z.object({ name: z.string(), value: z.string().optional() }).optional(),
  phaseDurationsInMs: phaseDurationsSchema.partial().optional(),
  /** Sub-state at whose end the run fails. */
  failAt: z.enum(runSubStates).optional(),
  /** How many runs fail (default 1). */
  failTimes: z.number().int().min(0).optional(),
  failureMessage: z.string().optional(),
});
export type TemplateRule = z.infer<typeof templateRuleSchema>;

export const faultScriptSchema = z.object({
  /** Operation name as counted (e.g. `GalleryImageVersions_Get`) or `*`. */
  operation: z.string(),
  /** Transient (429, 500, 503) or, for scripted faults only, permanent (400, 403, 404): no retry fixes those. */
  status: z.union([z.literal(429), z.literal(500), z.literal(503), z.literal(400), z.literal(403), z.literal(404)]),
  count: z.number().int().min(1),
});
export type FaultScript = z.infer<typeof faultScriptSchema>;

export const platformImageSetSchema = z.object({
  /** Absent = every location. */
  location: z.string().optional(),
  publisher: z.string(),
  offer: z.string(),
  sku: z.string(),
  versions: z.array(z.string()),
});
export type PlatformImageSet = z.infer<typeof platformImageSetSchema>;

export function defaultPlatformImages(): PlatformImageSet[] {
  return [
    {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      versions: ["24.04.202501140", "24.04.202502210", "24.04.202503260"],
    },
    {
      publisher: "Canonical",
      offer: "0001-com-ubuntu-server-jammy",
      sku: "22_04-lts-gen2",
      versions: ["22.04.202502040", "22.04.202503180"],
    },
    {
      publisher: "MicrosoftWindowsServer",
      offer: "WindowsServer",
      sku: "2022-datacenter-azure-edition",
      versions: ["20348.3091.250112", "20348.3207.250210", "20348.3328.250306"],
    },
  ];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge for partial admin updates: objects merge, everything else replaces. */
export function deepMerge<T>(base: T, patch: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(patch)) return (patch === undefined ? base : patch) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) out[key] = deepMerge(out[key], value);
  return out as T;
}
