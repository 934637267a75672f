import * as z from "zod";
import { NcrontabError, parseNcrontab } from "../domain/ncrontab.js";
import { imageBuilderSecurityTypes } from "../domain/securityType.js";
import { INT32_MAX } from "../domain/versions.js";

/*
 * The image catalog (`images.yaml`). Rules beyond types come from the Compute Gallery and Image Builder docs and
 * specs (GalleryRP 2025-12-03, imagebuilder 2025-10-01, "Naming rules and restrictions for Azure resources"):
 * - gallery name: 1-80 letters, digits, underscores, periods; starts and ends with a letter or digit;
 * - image definition name: 1-80 letters, digits, hyphens, periods; starts and ends with a letter or digit (the
 *   Compute Gallery docs' stricter reading: no underscores);
 * - publisher/offer/sku triple and definition name unique per gallery; up to 100 replicas per region;
 * - version components are int32; buildTimeoutInMinutes 6..960 (0 means Image Builder's 240: we require it said);
 * - Image Builder distributes to Standard, TrustedLaunchSupported and TrustedLaunchAndConfidentialVmSupported
 *   definitions only (image-builder-overview.md); the version is created in its definition's region.
 */

const int32 = z.number().int().min(0).max(INT32_MAX);
const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, "must be a SHA-256 checksum: 64 hexadecimal characters");
const uri = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const nonEmpty = z.string().trim().min(1, "must not be empty");

/** Image definition name rule; catalog image names follow it too since they default the definition name. */
export const definitionNamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,78}[A-Za-z0-9])?$/;
/** Gallery name rule. */
export const galleryNamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9._]{0,78}[A-Za-z0-9])?$/;
/** Programmatic region name (`westeurope`, `eastus2`), as ARM expects in `location`. */
export const regionNamePattern = /^[a-z][a-z0-9]*$/;

const definitionName = z
  .string()
  .regex(
    definitionNamePattern,
    "must be 1-80 letters, digits, dots or dashes, starting and ending with a letter or digit",
  );

/** A region in ARM's programmatic form; display names such as `West Europe` are rejected with a hint. */
export const regionNameSchema = z
  .string()
  .superRefine((value, ctx) => {
    if (regionNamePattern.test(value)) return;
    const hint = value.toLowerCase().replace(/[^a-z0-9]/g, "");
    ctx.addIssue({
      code: "custom",
      message:
        hint !== "" && regionNamePattern.test(hint)
          ? `"${value}" is not a region name: use the programmatic form "${hint}"`
          : `"${value}" is not a region name: use lowercase letters and digits such as "westeurope" or "eastus2"`,
    });
  })
  .meta({ pattern: regionNamePattern.source, description: "Azure region, programmatic form: westeurope, eastus2" });

const armId = (description: string, pattern: RegExp) =>
  z.string().regex(pattern, `must be the resource id of ${description}`);
const subscriptionPart = "/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\\w._()]{1,90}/providers/";
const managedImageId = armId(
  "a managed image (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/images/{name})",
  new RegExp(`^${subscriptionPart}Microsoft\\.Compute/images/[^/]+$`, "i"),
);
const galleryImageVersionId = armId(
  "a gallery image version (.../providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{v|latest})",
  new RegExp(`^${subscriptionPart}Microsoft\\.Compute/galleries/[^/]+/images/[^/]+/versions/[^/]+$`, "i"),
);
const userAssignedIdentityId = armId(
  "a user-assigned identity (.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})",
  new RegExp(`^${subscriptionPart}Microsoft\\.ManagedIdentity/userAssignedIdentities/[^/]+$`, "i"),
);
const resourceGroupName = z
  .string()
  .regex(
    /^[-\w._()]{0,89}[-\w_()]$/,
    "must be a resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
  );

const osTypeSchema = z.enum(["Linux", "Windows"]);
const storageAccountTypeSchema = z.enum(["Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS"]);
const onBuildErrorSchema = z.enum(["cleanup", "abort"]);

/** Where the image definition lives. */
export const catalogGallerySchema = z.strictObject({
  /** Defaults to the pipeline's subscription. */
  subscriptionId: z.guid().optional(),
  resourceGroup: resourceGroupName,
  name: z
    .string()
    .regex(
      galleryNamePattern,
      "must be 1-80 letters, digits, dots or underscores, starting and ending with a letter or digit",
    ),
  /** Region of the gallery (image definitions live there); defaults to the build location. */
  location: regionNameSchema.optional(),
});

const featureSchema = z.strictObject({ name: nonEmpty, value: nonEmpty });

/** The gallery image definition (GalleryImage) the versions are published to. */
export const catalogDefinitionSchema = z.strictObject({
  /** Defaults to the catalog image name. */
  name: definitionName.optional(),
  publisher: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "must be 1-128 letters, digits, '.', '_' or '-'"),
  offer: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 letters, digits, '.', '_' or '-'"),
  sku: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 letters, digits, '.', '_' or '-'"),
  osType: osTypeSchema,
  osState: z.enum(["Generalized", "Specialized"]).default("Generalized"),
  hyperVGeneration: z.enum(["V1", "V2"]).default("V2"),
  architecture: z.enum(["x64", "Arm64"]).default("x64"),
  /** Image features, e.g. `{ name: SecurityType, value: TrustedLaunch }`. */
  features: z.array(featureSchema).default([]),
  description: z.string().max(1024).optional(),
  /** ISO 8601 date or date-time. */
  endOfLifeDate: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional(),
});

const platformImageSourceSchema = z.strictObject({
  type: z.literal("PlatformImage"),
  publisher: nonEmpty,
  offer: nonEmpty,
  sku: nonEmpty,
  /** `latest` is resolved when the build runs; the exact version is recorded on the published version. */
  version: z
    .string()
    .regex(/^(latest|\d+\.\d+\.\d+)$/, 'must be "latest" or an exact version such as 22631.4460.241107')
    .default("latest"),
  planInfo: z.strictObject({ planName: nonEmpty, planProduct: nonEmpty, planPublisher: nonEmpty }).optional(),
});
const sharedImageVersionSourceSchema = z.strictObject({
  type: z.literal("SharedImageVersion"),
  imageVersionId: galleryImageVersionId,
});
const managedImageSourceSchema = z.strictObject({ type: z.literal("ManagedImage"), imageId: managedImageId });

/** The image a build starts from, discriminated on `type` as in Image Builder. */
export const catalogSourceSchema = z.discriminatedUnion("type", [
  platformImageSourceSchema,
  sharedImageVersionSourceSchema,
  managedImageSourceSchema,
]);

const scriptFields = {
  name: nonEmpty,
  scriptUri: uri.optional(),
  sha256Checksum: sha256.optional(),
  inline: z.array(z.string()).min(1).optional(),
};
const powerShellFields = {
  ...scriptFields,
  runElevated: z.boolean().default(false),
  runAsSystem: z.boolean().default(false),
  validExitCodes: z.array(z.number().int()).min(1).optional(),
};
const fileFields = { name: nonEmpty, sourceUri: uri, destination: nonEmpty, sha256Checksum: sha256 };

type ScriptStep = {
  scriptUri?: string | undefined;
  sha256Checksum?: string | undefined;
  inline?: string[] | undefined;
};
type PowerShellStep = ScriptStep & { runElevated: boolean; runAsSystem: boolean };

// Exactly one of scriptUri/inline, as Image Builder requires; a script fetched by URL must be pinned by checksum so
// that a rebuild cannot silently pick up a changed script.
function checkScript(step: ScriptStep, ctx: z.RefinementCtx): void {
  if ((step.scriptUri === undefined) === (step.inline === undefined)) {
    ctx.addIssue({ code: "custom", message: "give exactly one of scriptUri or inline", path: ["scriptUri"] });
  }
  if (step.scriptUri !== undefined && step.sha256Checksum === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "a scriptUri needs its sha256Checksum, so the build runs exactly the reviewed script",
      path: ["sha256Checksum"],
    });
  }
  if (step.inline !== undefined && step.sha256Checksum !== undefined) {
    ctx.addIssue({ code: "custom", message: "sha256Checksum applies to scriptUri only", path: ["sha256Checksum"] });
  }
}
function checkPowerShell(step: PowerShellStep, ctx: z.RefinementCtx): void {
  checkScript(step, ctx);
  if (step.runAsSystem && !step.runElevated) {
    ctx.addIssue({ code: "custom", message: "runAsSystem requires runElevated: true", path: ["runAsSystem"] });
  }
}

const shellStepSchema = z.strictObject({ type: z.literal("Shell"), ...scriptFields }).superRefine(checkScript);
const powerShellStepSchema = z
  .strictObject({ type: z.literal("PowerShell"), ...powerShellFields })
  .superRefine(checkPowerShell);
const fileStepSchema = z.strictObject({ type: z.literal("File"), ...fileFields });

/** One customization step, mapped 1:1 to an Image Builder customizer. */
export const catalogCustomizerSchema = z.discriminatedUnion("type", [
  shellStepSchema,
  powerShellStepSchema,
  fileStepSchema,
  z.strictObject({
    type: z.literal("WindowsRestart"),
    name: nonEmpty,
    restartCommand: nonEmpty.optional(),
    restartCheckCommand: z.string().optional(),
    /** e.g. `5m`, `2h`. */
    restartTimeout: z
      .string()
      .regex(/^\d+[smh]$/, 'must be a duration such as "5m" or "2h"')
      .optional(),
  }),
  z.strictObject({
    type: z.literal("WindowsUpdate"),
    name: nonEmpty,
    searchCriteria: z.string().optional(),
    filters: z.array(z.string()).optional(),
    updateLimit: z.number().int().min(1).max(1000).optional(),
  }),
]);

/** One in-VM validation step (Image Builder validators). */
export const catalogValidatorSchema = z.discriminatedUnion("type", [
  shellStepSchema,
  powerShellStepSchema,
  fileStepSchema,
]);

/** Optional in-VM validation of the built image. */
export const catalogValidateSchema = z.strictObject({
  continueDistributeOnFailure: z.boolean().default(false),
  sourceValidationOnly: z.boolean().default(false),
  inVMValidations: z.array(catalogValidatorSchema).min(1),
});

/** How Image Builder runs the build. */
export const catalogBuildSchema = z.strictObject({
  /** Region Image Builder runs in and where the staging image lives: the published version's source region. */
  location: regionNameSchema,
  /** Omit for Image Builder's default (Standard_D2ds_v4 for Gen2). */
  vmSize: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/, "must be a VM size such as Standard_D4s_v5")
    .optional(),
  /** Omit for the source image's OS disk size. */
  osDiskSizeGB: z.number().int().min(1).max(4095).optional(),
  /** Image Builder allows 6..960 minutes (0 would mean its default of 240: say so instead). */
  buildTimeoutInMinutes: z
    .number()
    .int()
    .min(6, "Image Builder's buildTimeoutInMinutes is 6..960 minutes")
    .max(960, "Image Builder's buildTimeoutInMinutes is 6..960 minutes")
    .default(120),
  /** Identity of the template and build VM; defaults to the pipeline's setting. */
  userAssignedIdentityId: userAssignedIdentityId.optional(),
  /**
   * Prefix of each build's own staging resource group (`<prefix>-<image>-<version>`), which Image Builder creates and
   * deletes with the template. Omit to let Image Builder name it (`IT_...`).
   */
  stagingResourceGroupPrefix: z
    .string()
    .regex(/^[-\w._()]{1,40}$/, "must be 1-40 letters, digits, '_', '-', '.', '(' or ')'")
    .optional(),
  /**
   * Refused: Image Builder requires a staging resource group to be empty and used by no other template, so one fixed
   * group breaks the second overlapping build (image-builder-json.md, stagingResourceGroup).
   */
  stagingResourceGroup: z
    .undefined({
      error:
        "a fixed staging resource group cannot be shared by overlapping builds (Image Builder requires it empty and unused by any other template): use stagingResourceGroupPrefix, which gives each build its own",
    })
    .optional(),
  errorHandling: z
    .strictObject({
      onCustomizerError: onBuildErrorSchema.default("cleanup"),
      onValidationError: onBuildErrorSchema.default("cleanup"),
    })
    .prefault({}),
});

const replicaCount = z.number().int().min(1).max(100);

/** One region the version replicates to. */
export const catalogTargetRegionSchema = z.strictObject({
  name: regionNameSchema,
  regionalReplicaCount: replicaCount.optional(),
  storageAccountType: storageAccountTypeSchema.optional(),
  /** Keep `latest` in this region from ever resolving to versions of this image. */
  excludeFromLatest: z.boolean().optional(),
});

/** Minutes a wave soaks: fractions allowed (tests use seconds), at most 30 days. */
const soakInMinutes = z.number().min(0).max(43_200);

/** One wave of a progressive rollout: the regions where `latest` moves together. */
export const catalogRolloutWaveSchema = z.strictObject({
  regions: z.array(regionNameSchema).min(1, "a wave needs at least one region"),
  /** How long `latest` stays in the waves so far before the next wave gets it; default the rollout's soakInMinutes. */
  soakInMinutes: soakInMinutes.optional(),
});

/**
 * An HTTPS endpoint asked (GET, no credentials, redirects not followed) once a wave has soaked: any 2xx lets the next
 * wave move. It gets `image`, `version`, `wave` (the next wave's number) and `regions` as query parameters.
 */
export const catalogHealthCheckSchema = z.strictObject({
  url: z
    .url({ protocol: /^https$/, error: "must be an https URL" })
    .refine((value) => {
      const url = new URL(value);
      return url.username === "" && url.password === "";
    }, "must not carry credentials: the endpoint is called without any")
    .refine((value) => new URL(value).hash === "", "must not have a fragment"),
  /** The whole check (name resolution, connection, answer) must end within this. */
  timeoutInSeconds: z.number().int().min(1).max(60).default(10),
  /** Consecutive failed checks (one per monitor run) after which the rollout halts. */
  failuresBeforeHalt: z.number().int().min(1).max(20).default(3),
});

/** Progressive rollout: `latest` reaches the target regions wave by wave, each wave soaking before the next. */
export const catalogRolloutSchema = z.strictObject({
  waves: z
    .array(catalogRolloutWaveSchema)
    .min(2, "a rollout needs at least two waves")
    .max(20, "a rollout has at most 20 waves"),
  soakInMinutes: soakInMinutes.default(60),
  healthCheck: catalogHealthCheckSchema.optional(),
});

/** Where and how the version is replicated. */
export const catalogDistributionSchema = z.strictObject({
  targetRegions: z.array(catalogTargetRegionSchema).min(1),
  replicaCount: replicaCount.default(1),
  storageAccountType: storageAccountTypeSchema.default("Standard_LRS"),
  replicationMode: z.enum(["Full", "Shallow"]).default("Full"),
  /** Waves of target regions that `latest` reaches one after the other (absent: every region at once). */
  rollout: catalogRolloutSchema.optional(),
});

/** How versions are numbered: semver (`major.minor.<allocated patch>`) or date (`YYYY.MMDD.N`, UTC). */
export const catalogVersioningSchema = z.discriminatedUnion("scheme", [
  z.strictObject({ scheme: z.literal("semver"), major: int32, minor: int32 }),
  z.strictObject({ scheme: z.literal("date") }),
]);

/** NCRONTAB expression (six fields with seconds, or five). */
export const ncrontabSchema = z
  .string()
  .superRefine((value, ctx) => {
    try {
      parseNcrontab(value);
    } catch (error) {
      if (!(error instanceof NcrontabError)) throw error;
      ctx.addIssue({ code: "custom", message: error.message });
    }
  })
  .meta({
    description: "NCRONTAB in UTC: {second} {minute} {hour} {day} {month} {day-of-week}, or 5 fields without seconds",
    examples: ["0 30 2 * * *", "0 0 4 * * WED"],
  });

/** When the pipeline builds the image on its own. */
export const catalogScheduleSchema = z.strictObject({
  cron: ncrontabSchema,
  /** Skip a scheduled build when neither the source image version nor the catalog entry changed. */
  skipIfUnchanged: z.boolean().default(true),
  /**
   * Consecutive failed builds after which the schedule disables itself (recorded on the image definition; `image-pipeline
   * schedule enable` turns it back on). At most 5: the definition keeps its newest five failures.
   */
  disableAfterFailedBuilds: z.number().int().min(1).max(5).default(3),
});

/** Pruning of old versions. */
export const catalogRetentionSchema = z.strictObject({
  /** Sets each version's endOfLifeDate at publication; pruning never deletes a version before it. */
  endOfLifeDays: z.number().int().min(1).max(36500).default(90),
  /** Never prune the newest N healthy versions. */
  keepLatest: z.number().int().min(1).max(1000).default(3),
  /** Never prune a version younger than this. */
  minAgeDays: z.number().int().min(0).max(36500).default(7),
  maxDeletionsPerRun: z.number().int().min(1).max(1000).default(10),
  /** Plan and report only. */
  dryRun: z.boolean().default(false),
  /** Also prune versions the pipeline did not create. */
  includeUnmanaged: z.boolean().default(false),
  /**
   * Also prune versions that VMs, scale sets or scale-set instances still run (read from Azure Resource Graph): they
   * can then no longer scale out or be reimaged. Off when absent: a version in use is kept, and reported once past
   * its end of life. No default is filled in, so entries that leave it out keep their entry hash.
   */
  deleteInUse: z.boolean().optional(),
  /**
   * Fewer replicas for versions that newer ones superseded (each replica is billed as a snapshot): applied by the
   * prune run, never to a version `latest` resolves to in any region or one in use.
   */
  shrinkSuperseded: z
    .strictObject({
      /** A version shrinks once this many newer healthy versions exist. */
      afterNewerVersions: z.number().int().min(1).max(1000).default(1),
      /** Replicas left in each region it keeps (a region with fewer keeps its own). */
      regionalReplicaCount: replicaCount.default(1),
      /** `all`: every region it has; `home`: only its definition's region (the others are removed). */
      keepRegions: z.enum(["all", "home"]).default("all"),
    })
    .optional(),
});

const windowsOnlySteps = new Set(["PowerShell", "WindowsRestart", "WindowsUpdate"]);
const linuxOnlySteps = new Set(["Shell"]);

interface LooseImage {
  gallery?: { location?: unknown };
  definition?: { osType?: unknown; hyperVGeneration?: unknown; architecture?: unknown; features?: unknown };
  customize?: unknown;
  validate?: { inVMValidations?: unknown };
  build?: { location?: unknown };
  distribution?: { targetRegions?: unknown; storageAccountType?: unknown; rollout?: { waves?: unknown } };
}
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown =>
  typeof v === "object" && v !== null ? (v as Record<string, unknown>)[key] : undefined;

// Rules across fields of one image. They run even when other fields failed (`when`), so they read defensively.
function checkImage(image: LooseImage, ctx: z.RefinementCtx): void {
  const osType = image.definition?.osType;
  const stepLists: [string, unknown][] = [
    ["customize", image.customize],
    ["validate.inVMValidations", image.validate?.inVMValidations],
  ];
  if (osType === "Linux" || osType === "Windows") {
    for (const [listPath, list] of stepLists) {
      asArray(list).forEach((step, index) => {
        const type = field(step, "type");
        if (typeof type !== "string") return;
        const wrong = osType === "Linux" ? windowsOnlySteps.has(type) : linuxOnlySteps.has(type);
        if (wrong) {
          ctx.addIssue({
            code: "custom",
            message: `a ${type} step needs a ${osType === "Linux" ? "Windows" : "Linux"} image; definition.osType is ${osType}`,
            path: [...listPath.split("."), index, "type"],
          });
        }
      });
    }
  }
  const generation = image.definition?.hyperVGeneration ?? "V2";
  if (image.definition?.architecture === "Arm64" && generation !== "V2") {
    ctx.addIssue({
      code: "custom",
      message: "Arm64 images must be hyperVGeneration V2",
      path: ["definition", "architecture"],
    });
  }
  asArray(image.definition?.features).forEach((feature, index) => {
    const isSecurityType = String(field(feature, "name")).toLowerCase() === "securitytype";
    if (!isSecurityType) return;
    const value = String(field(feature, "value"));
    const path = ["definition", "features", index, "value"];
    if (!imageBuilderSecurityTypes.includes(value)) {
      ctx.addIssue({
        code: "custom",
        message:
          value === "TrustedLaunch" || value === "ConfidentialVM"
            ? `SecurityType ${value}: Image Builder cannot distribute to a ${value} image definition, and a managed image cannot be its source; use ${value === "TrustedLaunch" ? "TrustedLaunchSupported" : "TrustedLaunchAndConfidentialVmSupported"} (VMs made from it can still use Trusted Launch)`
            : `SecurityType ${value} is not one Image Builder can build: use one of ${imageBuilderSecurityTypes.join(", ")}`,
        path,
      });
    } else if (value !== "Standard" && generation !== "V2") {
      ctx.addIssue({ code: "custom", message: `SecurityType ${value} requires hyperVGeneration V2`, path });
    }
  });
  const regions = asArray(image.distribution?.targetRegions).map((r) => field(r, "name"));
  const seen = new Set<string>();
  regions.forEach((name, index) => {
    if (typeof name !== "string") return;
    if (seen.has(name)) {
      ctx.addIssue({
        code: "custom",
        message: `region ${name} is listed twice`,
        path: ["distribution", "targetRegions", index, "name"],
      });
    }
    seen.add(name);
  });
  checkRollout(image, ctx);
  // Image Builder creates the version in its definition's region (the gallery's, else the build's): that region
  // must be a target region, and Image Builder writes it, so its storage type must be one Image Builder supports.
  const galleryLocation = image.gallery?.location;
  const home = typeof galleryLocation === "string" ? galleryLocation : image.build?.location;
  const homePath = typeof galleryLocation === "string" ? ["gallery", "location"] : ["build", "location"];
  if (typeof home === "string" && regionNamePattern.test(home) && regions.length > 0 && !seen.has(home)) {
    ctx.addIssue({
      code: "custom",
      message: `the image definition's region ${home} (where each version is created) must be one of distribution.targetRegions`,
      path: homePath,
    });
  }
  const homeIndex = regions.indexOf(home);
  const regionStorage = field(asArray(image.distribution?.targetRegions)[homeIndex], "storageAccountType");
  if ((regionStorage ?? image.distribution?.storageAccountType) === "PremiumV2_LRS") {
    ctx.addIssue({
      code: "custom",
      message: `storage type PremiumV2_LRS in ${String(home)}: Image Builder writes the version there and supports Standard_LRS, Standard_ZRS and Premium_LRS only`,
      path:
        regionStorage !== undefined
          ? ["distribution", "targetRegions", homeIndex, "storageAccountType"]
          : ["distribution", "storageAccountType"],
    });
  }
}

// Every target region that may get `latest` is in exactly one wave; a region kept out of `latest` is in none.
function checkRollout(image: LooseImage, ctx: z.RefinementCtx): void {
  const waves = image.distribution?.rollout?.waves;
  if (!Array.isArray(waves)) return;
  const targets = asArray(image.distribution?.targetRegions);
  const excluded = new Set(
    targets.filter((r) => field(r, "excludeFromLatest") === true).map((r) => String(field(r, "name"))),
  );
  const names = new Set(targets.map((r) => field(r, "name")).filter((n): n is string => typeof n === "string"));
  const waveOf = new Map<string, number>();
  waves.forEach((wave, w) => {
    asArray(field(wave, "regions")).forEach((region, i) => {
      if (typeof region !== "string") return;
      const path = ["distribution", "rollout", "waves", w, "regions", i];
      if (!names.has(region)) {
        ctx.addIssue({ code: "custom", message: `${region} is not one of distribution.targetRegions`, path });
      } else if (excluded.has(region)) {
        ctx.addIssue({
          code: "custom",
          message: `${region} is kept out of latest (excludeFromLatest): it belongs in no wave`,
          path,
        });
      } else if (waveOf.has(region)) {
        ctx.addIssue({ code: "custom", message: `${region} is already in wave ${waveOf.get(region)! + 1}`, path });
      }
      waveOf.set(region, waveOf.get(region) ?? w);
    });
  });
  targets.forEach((target, index) => {
    const name = field(target, "name");
    if (typeof name !== "string" || excluded.has(name) || waveOf.has(name)) return;
    ctx.addIssue({
      code: "custom",
      message: `${name} is in no wave of distribution.rollout: latest would never reach it (add it to a wave, or set its excludeFromLatest)`,
      path: ["distribution", "targetRegions", index, "name"],
    });
  });
}

/** One image of the catalog. */
export const catalogImageSchema = z
  .strictObject({
    /** Catalog image name: used in webhooks and as the default image definition name. */
    name: definitionName.meta({ description: "Catalog image name (webhooks; default image definition name)" }),
    gallery: catalogGallerySchema.meta({ description: "Azure Compute Gallery holding the image definition" }),
    definition: catalogDefinitionSchema.meta({ description: "Gallery image definition (GalleryImage)" }),
    source: catalogSourceSchema.meta({ description: "Image the build starts from (Image Builder source)" }),
    customize: z
      .array(catalogCustomizerSchema)
      .default([])
      .meta({ description: "Image Builder customizers, in order; Shell on Linux, PowerShell/Windows* on Windows" }),
    validate: catalogValidateSchema.optional().meta({ description: "In-VM validation of the built image" }),
    build: catalogBuildSchema.meta({ description: "How Image Builder runs the build" }),
    distribution: catalogDistributionSchema.meta({ description: "Replication of each published version" }),
    versioning: catalogVersioningSchema
      .prefault({ scheme: "date" })
      .meta({ description: "semver: major.minor.<next patch>; date: YYYY.MMDD.N (UTC). Default: date" }),
    schedule: catalogScheduleSchema.optional().meta({ description: "Scheduled builds" }),
    retention: catalogRetentionSchema.prefault({}).meta({ description: "Pruning of old versions" }),
  })
  .superRefine((image, ctx) => checkImage(image as LooseImage, ctx), { when: () => true })
  .transform((image) => ({ ...image, definition: { ...image.definition, name: image.definition.name ?? image.name } }));

const lower = (v: unknown): string | undefined => (typeof v === "string" ? v.toLowerCase() : undefined);

/** Rules across images: unique names, definitions and publisher/offer/sku per gallery. Reads defensively. */
export function checkCatalogImages(images: readonly unknown[], ctx: z.RefinementCtx, indices?: readonly number[]) {
  const names = new Map<string, number>();
  const definitions = new Map<string, number>();
  const identifiers = new Map<string, number>();
  images.forEach((image, i) => {
    const index = indices?.[i] ?? i;
    const name = lower(field(image, "name"));
    const gallery = field(image, "gallery");
    const definition = field(image, "definition");
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `image name "${String(field(image, "name"))}" is already used by images[${first}]`,
          path: ["images", index, "name"],
        });
      } else names.set(name, index);
    }
    const galleryName = lower(field(gallery, "name"));
    const resourceGroup = lower(field(gallery, "resourceGroup"));
    if (galleryName === undefined || resourceGroup === undefined) return;
    const galleryKey = `${lower(field(gallery, "subscriptionId")) ?? ""}/${resourceGroup}/${galleryName}`;
    const definitionName = lower(field(definition, "name")) ?? name;
    if (definitionName !== undefined) {
      const key = `${galleryKey}/${definitionName}`;
      const first = definitions.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `image definition "${definitionName}" in gallery ${field(gallery, "name")} is already used by images[${first}]`,
          path: ["images", index, "definition", "name"],
        });
      } else definitions.set(key, index);
    }
    const triple = ["publisher", "offer", "sku"].map((k) => lower(field(definition, k)));
    if (triple.every((p) => p !== undefined)) {
      const key = `${galleryKey}/${triple.join("/")}`;
      const first = identifiers.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `publisher/offer/sku ${triple.join("/")} in gallery ${field(gallery, "name")} is already used by images[${first}]`,
          path: ["images", index, "definition", "sku"],
        });
      } else identifiers.set(key, index);
    }
  });
}

/** The whole catalog file. */
export const catalogSchema = z
  .strictObject({
    images: z.array(catalogImageSchema).min(1, "the catalog needs at least one image"),
  })
  .superRefine((catalog, ctx) => checkCatalogImages(asArray(field(catalog, "images")), ctx), { when: () => true });

export type Catalog = z.infer<typeof catalogSchema>;
export type CatalogImage = z.infer<typeof catalogImageSchema>;
export type CatalogCustomizer = z.infer<typeof catalogCustomizerSchema>;
export type CatalogValidator = z.infer<typeof catalogValidatorSchema>;
export type CatalogSource = z.infer<typeof catalogSourceSchema>;
export type CatalogVersioning = z.infer<typeof catalogVersioningSchema>;
export type CatalogRetention = z.infer<typeof catalogRetentionSchema>;
export type CatalogTargetRegion = z.infer<typeof catalogTargetRegionSchema>;
export type CatalogRollout = z.infer<typeof catalogRolloutSchema>;
export type CatalogHealthCheck = z.infer<typeof catalogHealthCheckSchema>;
export type CatalogShrinkPolicy = NonNullable<CatalogRetention["shrinkSuperseded"]>;
