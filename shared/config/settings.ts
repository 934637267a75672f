import { isIP } from "node:net";
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
/** A webhook secret the webhook cannot use, and why (never the value itself). */
export interface UnusableSecret {
  unusable: string;
}

/**
 * A webhook secret, a Key Vault reference in Azure. When the reference cannot be resolved, Functions leaves its text
 * in place: that (or a blank value) disables the webhook only, so it is kept as an {@link UnusableSecret} for the
 * webhook to answer 503, rather than refused with every other setting (which would stop every function).
 */
const webhookSecret = z
  .string()
  .trim()
  .transform((v): string | UnusableSecret => {
    if (v.startsWith("@Microsoft.KeyVault(")) {
      return { unusable: "the Key Vault reference did not resolve (check the vault, the secret and the app's access)" };
    }
    return v === "" ? { unusable: "the value is blank" } : v;
  });
const positiveInt = z.coerce.number().int().positive();
const isCidr = (value: string) => {
  const [network = "", bits = ""] = value.split("/");
  const family = isIP(network);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32);
};
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
  /**
   * URL of the published catalog blob (`https://<account>.blob.core.windows.net/catalog/images.yaml`), read with the
   * app's identity. Optional here so that a missing value fails only what reads the catalog, with its name.
   */
  CATALOG_BLOB_URL: z.url().optional(),
  /** Connection string of the storage emulator's account (Azurite): only for a loopback CATALOG_BLOB_URL. */
  CATALOG_STORAGE_CONNECTION_STRING: nonEmpty.optional(),
  /** How long an instance uses the catalog it read before revalidating it with a conditional read, in seconds. */
  CATALOG_MAX_AGE_IN_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /**
   * The Event Grid topic's endpoint (`https://<topic>.<region>-1.eventgrid.azure.net/api/events`), reached with the
   * app's identity (role EventGrid Data Sender). Optional here so that a missing value fails only the event
   * publisher, with its name, while builds go on (their events wait in the `events` queue).
   */
  EVENT_GRID_TOPIC_ENDPOINT: z.url().optional(),
  /** `azure`: Entra ID tokens. `emulator`: the local Event Grid endpoint's fixed token, only for a loopback endpoint. */
  EVENT_GRID_AUTH: z.enum(["azure", "emulator"]).default("azure"),
  /** PEM file of an extra CA to trust for EVENT_GRID_TOPIC_ENDPOINT (the local endpoint's self-signed certificate). */
  EVENT_GRID_CA_CERT_PATH: nonEmpty.optional(),
  /** Secret for GitHub webhook signatures (X-Hub-Signature-256), a Key Vault reference in Azure. */
  WEBHOOK_SECRET: webhookSecret.optional(),
  /** The previous secret, still accepted while a rotation is under way. */
  WEBHOOK_SECRET_PREVIOUS: webhookSecret.optional(),
  /** Largest webhook body accepted, in bytes. */
  WEBHOOK_MAX_BODY_IN_BYTES: positiveInt.default(1_048_576),
  /** Resource group that holds the Image Builder templates. */
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
  /**
   * How long one prune run may delete before it stops and leaves the rest to the next run: below the function's
   * timeout (10 minutes is Flex Consumption's default).
   */
  PRUNE_TIME_BUDGET_IN_SECONDS: positiveInt.default(480),
  /** Times a failed region's replication is retried before the version is marked failed. */
  REPLICATION_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(3),
  /** A version still replicating after this long is marked failed. */
  REPLICATION_TIMEOUT_IN_MINUTES: positiveInt.default(720),
  /** How long a failed build's template, staging resource group and customization log are kept for inspection. */
  FAILED_BUILD_RETENTION_IN_HOURS: z.coerce.number().positive().default(72),
  /** First delay before watchBuild checks a run, in seconds; it doubles up to the maximum. */
  BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: positiveInt.default(60),
  /** Longest delay between two checks of a run, in seconds. */
  BUILD_WATCH_MAX_DELAY_IN_SECONDS: positiveInt.default(600),
  /** Delay before a build request that found another build of its image in flight is tried again, in seconds. */
  BUILD_REQUEUE_DELAY_IN_SECONDS: positiveInt.default(300),
  /** How long one read of Azure serves every dashboard viewer, and how often the page asks again, in seconds. */
  DASHBOARD_REFRESH_IN_SECONDS: positiveInt.default(30),
  /**
   * Networks (CIDRs, comma-separated) a rollout's health check may call although they are not public: the subnet of
   * an endpoint inside the app's own virtual network. Empty: public addresses only.
   */
  HEALTH_CHECK_ALLOWED_NETWORKS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((c) => c.trim())
        .filter((c) => c !== ""),
    )
    .pipe(z.array(z.string().refine(isCidr, "each entry must be a network in CIDR notation, such as 10.1.0.0/16"))),
  /** PEM file of an extra CA to trust for health checks (the local stack's self-signed endpoints). */
  HEALTH_CHECK_CA_CERT_PATH: nonEmpty.optional(),
  /**
   * Subscriptions whose VMs and scale sets may run the images, comma-separated (default: AZURE_SUBSCRIPTION_ID). The
   * app's identity needs the fleet reader role on each (infra/app/rbac.bicep); one Resource Graph sweep covers them.
   */
  USAGE_SUBSCRIPTION_IDS: z
    .string()
    .transform((v) => [
      ...new Set(
        v
          .split(",")
          .map((s) => s.trim().toLowerCase())
          .filter((s) => s !== ""),
      ),
    ])
    .pipe(z.array(z.guid("each subscription id must be a GUID")).min(1, "at least one subscription id"))
    .optional(),
  /**
   * Application Insights connection string (the component's, not a secret with local auth off): spans and logs are
   * exported there with OpenTelemetry (shared/observability/README.md).
   */
  APPLICATIONINSIGHTS_CONNECTION_STRING: nonEmpty.optional(),
  /**
   * `Authorization=AAD;ClientId=<client id>`: export to Application Insights with Entra ID, as that managed identity
   * (the Functions convention, which the Functions host reads too).
   */
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: nonEmpty
    .refine(
      (v) => /(^|;)\s*Authorization\s*=\s*AAD\s*(;|$)/i.test(v),
      "Authorization=AAD;ClientId=<client id of the managed identity>",
    )
    .optional(),
  /** Base URL of an OTLP/HTTP endpoint that also receives spans (`<url>/v1/traces`): the local stack's collector. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
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

/**
 * The secrets the webhook checks signatures with (none: the function key alone guards it), or why it cannot serve:
 * a configured secret that is unusable disables the webhook rather than weakening it.
 */
export function webhookSecrets(settings: Settings): { secrets: string[] } | { unusable: string } {
  const secrets: string[] = [];
  for (const name of ["WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS"] as const) {
    const value = settings[name];
    if (typeof value === "object") return { unusable: `${name}: ${value.unusable}` };
    if (value !== undefined) secrets.push(value);
  }
  return { secrets };
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
