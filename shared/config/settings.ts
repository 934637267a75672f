import * as z from "zod";
import { ConfigurationError } from "../errors.js";

/**
 * Every application setting the pipeline's code reads, in one place. In Azure they are Function App settings
 * (infra/ declares each one); locally they come from `local.settings.json` and the environment.
 */

const bool = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(["true", "false", "1", "0", "yes", "no"]))
  .transform((v) => v === "true" || v === "1" || v === "yes");
/** A secret from a Key Vault reference: when the reference cannot be resolved, Functions leaves its text in place. */
const secret = z
  .string()
  .trim()
  .min(1)
  .refine(
    (v) => !v.startsWith("@Microsoft.KeyVault("),
    "the Key Vault reference did not resolve (check the vault, the secret and the app's access)",
  );
const positiveInt = z.coerce.number().int().positive();
const nonEmpty = z.string().trim().min(1);

export const settingsSchema = z.object({
  /** Subscription that holds the galleries and Image Builder templates (catalog entries may name another). */
  AZURE_SUBSCRIPTION_ID: nonEmpty,
  /** Client id of the Function App's user-assigned managed identity (read by DefaultAzureCredential too). */
  AZURE_CLIENT_ID: nonEmpty.optional(),
  /** Azure Resource Manager endpoint. Only the local stack changes it. */
  ARM_ENDPOINT: z.url().default("https://management.azure.com"),
  /** `azure`: Entra ID tokens (managed identity, az login). `emulator`: a fixed token, only for a loopback ARM_ENDPOINT. */
  ARM_AUTH: z.enum(["azure", "emulator"]).default("azure"),
  /** PEM file of an extra CA to trust for ARM_ENDPOINT (the local ARM emulator's self-signed certificate). */
  ARM_CA_CERT_PATH: nonEmpty.optional(),
  /** Reads per second the sweeps allow themselves: below ARM's 25/s subscription refill so they are never throttled. */
  ARM_MAX_READS_PER_SECOND: positiveInt.default(20),
  /** Writes and deletes per second the sweeps allow themselves (ARM refills 10/s). */
  ARM_MAX_WRITES_PER_SECOND: positiveInt.default(8),
  /** Identity-based Service Bus connection (Azure): the namespace host, e.g. `sb-imgpipe.servicebus.windows.net`. */
  ServiceBusConnection__fullyQualifiedNamespace: nonEmpty.optional(),
  /** Service Bus connection string: only for the local emulator (`UseDevelopmentEmulator=true`). */
  ServiceBusConnection: nonEmpty.optional(),
  /** Path of the image catalog. */
  CATALOG_PATH: nonEmpty.default("images.yaml"),
  /** Secret for GitHub webhook signatures (X-Hub-Signature-256), a Key Vault reference in Azure. */
  WEBHOOK_SECRET: secret.optional(),
  /** The previous secret, still accepted while a rotation is under way. */
  WEBHOOK_SECRET_PREVIOUS: secret.optional(),
  /** Largest webhook body accepted, in bytes. */
  WEBHOOK_MAX_BODY_IN_BYTES: positiveInt.default(1_048_576),
  /** Resource group that holds Image Builder templates and staging managed images. */
  IMAGE_BUILDER_RESOURCE_GROUP: nonEmpty,
  /** Resource id of the user-assigned identity Image Builder builds run as, unless a catalog entry names one. */
  IMAGE_BUILDER_IDENTITY_ID: nonEmpty,
  /** NCRONTAB of the nightly rebuild timer; each image's own schedule decides whether it is due. */
  NIGHTLY_SCHEDULE: nonEmpty.default("0 0 * * * *"),
  /** NCRONTAB of the replication monitor timer. */
  REPLICATION_MONITOR_SCHEDULE: nonEmpty.default("0 */2 * * * *"),
  /** NCRONTAB of the prune timer. */
  PRUNE_SCHEDULE: nonEmpty.default("0 30 3 * * *"),
  /** When true, pruning only logs its plan. */
  PRUNE_DRY_RUN: bool.default(false),
  /** Times a failed region's replication is retried before the version is marked failed. */
  REPLICATION_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(3),
  /** A version still replicating after this long is marked failed. */
  REPLICATION_TIMEOUT_IN_MINUTES: positiveInt.default(720),
  /** First delay before watchBuild checks a run, in seconds; it doubles up to the maximum. */
  BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: positiveInt.default(60),
  /** Longest delay between two checks of a run, in seconds. */
  BUILD_WATCH_MAX_DELAY_IN_SECONDS: positiveInt.default(600),
  /** Delay before a build request that found another build of its image in flight is tried again, in seconds. */
  BUILD_REQUEUE_DELAY_IN_SECONDS: positiveInt.default(300),
  /** How long one read of Azure serves every dashboard viewer, and how often the page asks again, in seconds. */
  DASHBOARD_REFRESH_IN_SECONDS: positiveInt.default(30),
});

export type Settings = z.infer<typeof settingsSchema>;

/** Names of every setting the code reads; infra/ must declare each (a test checks). */
export const settingNames = Object.keys(settingsSchema.shape) as ReadonlyArray<string>;

/**
 * Parses settings from an environment. Errors name every missing or invalid setting at once.
 */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const picked: Record<string, string> = {};
  for (const name of settingNames) {
    const value = env[name];
    if (value !== undefined && value !== "") picked[name] = value;
  }
  const result = settingsSchema.safeParse(picked);
  // Name each setting; never echo a value (some are secrets).
  const problems = (result.success ? [] : result.error.issues).map((i) => {
    const name = i.path.join(".") || "(settings)";
    return picked[name] === undefined && i.code === "invalid_type" ? `${name}: missing` : `${name}: ${i.message}`;
  });
  if (!picked.ServiceBusConnection__fullyQualifiedNamespace && !picked.ServiceBusConnection) {
    problems.push(
      "ServiceBusConnection__fullyQualifiedNamespace: missing (or ServiceBusConnection, for the local emulator only)",
    );
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigurationError(`invalid settings: ${problems.join("; ")}`);
  }
  return result.data;
}

let cached: Settings | undefined;

/** The settings of this process, read once from `process.env`. */
export function getSettings(): Settings {
  cached ??= parseSettings(process.env);
  return cached;
}

/** For tests and the local host, which change the environment between runs. */
export function resetSettingsCache(): void {
  cached = undefined;
}
