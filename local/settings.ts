import { existsSync, readFileSync } from "node:fs";

/** Identifiers of the local stack's simulated Azure. */
export const localAzure = {
  subscriptionId: "00000000-0000-0000-0000-000000000000",
  imageBuilderResourceGroup: "rg-image-builder",
  imageBuilderIdentityId:
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-image-pipeline/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-image-builder",
  functionKey: "local-function-key",
  /** The host's master key: what `authLevel: "admin"` functions (rollback, promote, schedule) take. */
  masterKey: "local-master-key",
  /** The blob container of the catalog, as infra/ creates it in the app's storage account. */
  catalogContainer: "catalog",
  catalogBlob: "images.yaml",
};

/**
 * Settings for the pipeline on the local stack, like `func` reads them: `local.settings.json` `Values` first, the
 * process environment over them, and the endpoints of the emulators over both.
 */
export function localSettings(endpoints: {
  armEndpoint: string;
  armCaCertPath: string;
  serviceBusConnectionString: string;
  catalogBlobUrl: string;
  catalogStorageConnectionString: string;
  eventGridTopicEndpoint: string;
  eventGridCaCertPath: string;
  /** The local OTLP collector's base URL: spans are exported there. */
  otlpEndpoint?: string;
  overrides?: Record<string, string>;
}): Record<string, string | undefined> {
  const file = "local.settings.json";
  const values = existsSync(file)
    ? ((JSON.parse(readFileSync(file, "utf8")) as { Values?: Record<string, string> }).Values ?? {})
    : {};
  return {
    AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
    IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
    IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
    // Every invocation revalidates the catalog (a conditional GET to Azurite), so a publish is seen at once.
    CATALOG_MAX_AGE_IN_SECONDS: "0",
    BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: "1",
    BUILD_WATCH_MAX_DELAY_IN_SECONDS: "2",
    BUILD_REQUEUE_DELAY_IN_SECONDS: "2",
    NIGHTLY_SCHEDULE: "0 0 * * * *",
    REPLICATION_MONITOR_SCHEDULE: "*/2 * * * * *",
    PRUNE_SCHEDULE: "0 */10 * * * *",
    DASHBOARD_REFRESH_IN_SECONDS: "2",
    ...values,
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("npm_"))),
    ...endpoints.overrides,
    ARM_ENDPOINT: endpoints.armEndpoint,
    ARM_AUTH: "emulator",
    ARM_CA_CERT_PATH: endpoints.armCaCertPath,
    ServiceBusConnection: endpoints.serviceBusConnectionString,
    CATALOG_BLOB_URL: endpoints.catalogBlobUrl,
    CATALOG_STORAGE_CONNECTION_STRING: endpoints.catalogStorageConnectionString,
    EVENT_GRID_TOPIC_ENDPOINT: endpoints.eventGridTopicEndpoint,
    EVENT_GRID_AUTH: "emulator",
    EVENT_GRID_CA_CERT_PATH: endpoints.eventGridCaCertPath,
    ...(endpoints.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: endpoints.otlpEndpoint } : {}),
  };
}
