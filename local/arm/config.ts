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
  /**
   * Off (Azure's behaviour): writes and reads under a missing resource group answer ResourceGroupNotFound. On: a
   * resource group springs into existence with the first resource put into it (for ad-hoc experiments only).
   */
  implicitResourceGroups: z.boolean(),
  /** How long creates and updates provisioned by a plain LRO (galleries, definitions, managed images, templates) stay Creating/Updating. */
  operationDurationInMs: z.number().int().min(0),
  /** How long a deleted version, template or resource group reports Deleting before it is gone. */
  deleteDurationInMs: z.number().int().min(0),
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
    /** ARM's global buckets (15 times the regional ones); reported in `x-ms-ratelimit-remaining-subscription-global-*`. */
    global: z.object({ reads: bucketSchema, writes: bucketSchema, deletes: bucketSchema }),
  }),
  /** Azure Resource Graph (`POST /providers/Microsoft.ResourceGraph/resources`): its own quota, and the caller's access. */
  resourceGraph: z.object({
    /**
     * Resource Graph's per-user quota [RG6]: `queriesPerWindow` queries in each window of `windowInMs` (15 per 5 s,
     * as documented), reported in `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`; the next one is 429.
     */
    quota: z.object({
      enabled: z.boolean(),
      queriesPerWindow: z.number().int().min(1),
      windowInMs: z.number().int().min(1),
    }),
    /**
     * Subscriptions the caller cannot read (Entra ID is not modelled, so the caller's access is set here): their
     * resources are left out of every answer without a sign, and a query scoped only to them is 403 [RG7].
     */
    deniedSubscriptions: z.array(z.string()),
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
    implicitResourceGroups: false,
    operationDurationInMs: 1000,
    deleteDurationInMs: 1000,
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
      enabled: true,
      reads: { burst: 250, perSecond: 25 },
      writes: { burst: 200, perSecond: 10 },
      deletes: { burst: 200, perSecond: 10 },
      global: {
        reads: { burst: 3750, perSecond: 375 },
        writes: { burst: 3000, perSecond: 150 },
        deletes: { burst: 3000, perSecond: 150 },
      },
    },
    resourceGraph: { quota: { enabled: true, queriesPerWindow: 15, windowInMs: 5000 }, deniedSubscriptions: [] },
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
  /** How many attempts fail before the region replicates (default 1; only with recovery "retry"). */
  failTimes: z.number().int().min(0).optional(),
  /**
   * How a failed region recovers: "retry" (an update naming the region again retries it; attempts after `failTimes`
   * succeed), "readd" (same-region retries keep failing; the first attempt after the region was removed from the
   * version and added back succeeds), "never" (every attempt fails).
   */
  recovery: z.enum(["retry", "readd", "never"]).optional(),
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
  /**
   * Glob on `runOutputName`: those distributions fail in the next `failTimes` runs (the run ends PartiallySucceeded
   * when another distribution succeeds, Failed otherwise).
   */
  failDistribution: z.string().optional(),
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

const platformImageFeatureSchema = z.object({ name: z.string(), value: z.string() });

export const platformImageSetSchema = z.object({
  /** Absent = every location. */
  location: z.string().optional(),
  publisher: z.string(),
  offer: z.string(),
  sku: z.string(),
  versions: z.array(z.string()),
  /** What VirtualMachineImages_Get reports for every version of the set (defaults: Linux, V1, x64, 30 GiB). */
  osType: z.enum(["Linux", "Windows"]).optional(),
  hyperVGeneration: z.enum(["V1", "V2"]).optional(),
  architecture: z.enum(["x64", "Arm64"]).optional(),
  /** e.g. SecurityType, DiskControllerTypes, IsAcceleratedNetworkSupported, IsHibernateSupported. */
  features: z.array(platformImageFeatureSchema).optional(),
  osDiskSizeInBytes: z.number().int().min(1).optional(),
  automaticOSUpgradeSupported: z.boolean().optional(),
});
export type PlatformImageSet = z.infer<typeof platformImageSetSchema>;

const linuxFeatures = (securityType?: string) => [
  ...(securityType ? [{ name: "SecurityType", value: securityType }] : []),
  { name: "IsAcceleratedNetworkSupported", value: "True" },
  { name: "DiskControllerTypes", value: "SCSI, NVMe" },
  { name: "IsHibernateSupported", value: "True" },
];

/**
 * The default marketplace images, with the properties `az vm image show` reports for them: Gen2 SKUs that support
 * Trusted Launch carry `SecurityType: TrustedLaunchSupported`; the Gen1 SKU carries none.
 */
export function defaultPlatformImages(): PlatformImageSet[] {
  return [
    {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      versions: ["24.04.202501140", "24.04.202502210", "24.04.202503260"],
      osType: "Linux",
      hyperVGeneration: "V2",
      architecture: "x64",
      features: linuxFeatures("TrustedLaunchSupported"),
      osDiskSizeInBytes: 32_213_303_808,
      automaticOSUpgradeSupported: false,
    },
    {
      publisher: "Canonical",
      offer: "0001-com-ubuntu-server-jammy",
      sku: "22_04-lts-gen2",
      versions: ["22.04.202502040", "22.04.202503180"],
      osType: "Linux",
      hyperVGeneration: "V2",
      architecture: "x64",
      features: linuxFeatures("TrustedLaunchSupported"),
      osDiskSizeInBytes: 32_213_303_808,
      automaticOSUpgradeSupported: true,
    },
    {
      publisher: "Canonical",
      offer: "0001-com-ubuntu-server-jammy",
      sku: "22_04-lts",
      versions: ["22.04.202502040", "22.04.202503180"],
      osType: "Linux",
      hyperVGeneration: "V1",
      architecture: "x64",
      features: linuxFeatures(),
      osDiskSizeInBytes: 32_213_303_808,
      automaticOSUpgradeSupported: true,
    },
    {
      publisher: "MicrosoftWindowsServer",
      offer: "WindowsServer",
      sku: "2022-datacenter-azure-edition",
      versions: ["20348.3091.250112", "20348.3207.250210", "20348.3328.250306"],
      osType: "Windows",
      hyperVGeneration: "V2",
      architecture: "x64",
      features: [
        { name: "SecurityType", value: "TrustedLaunchSupported" },
        { name: "IsAcceleratedNetworkSupported", value: "True" },
        { name: "DiskControllerTypes", value: "SCSI, NVMe" },
        { name: "IsHibernateSupported", value: "True" },
      ],
      osDiskSizeInBytes: 136_367_308_800,
      automaticOSUpgradeSupported: false,
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
