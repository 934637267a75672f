import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigurationError } from "../shared/errors.js";
import { parseSettings, settingsSchema, type Settings } from "../shared/config/settings.js";

const catalogSettingsSchema = settingsSchema.pick({
  CATALOG_BLOB_URL: true,
  CATALOG_STORAGE_CONNECTION_STRING: true,
  CATALOG_MAX_AGE_IN_SECONDS: true,
  AZURE_CLIENT_ID: true,
});
const catalogSettingNames = Object.keys(catalogSettingsSchema.shape);

/** Where `npm start` leaves the settings of the running local stack, so the CLI talks to it by default. */
export const localStackSettingsPath = ".local/settings.json";

/**
 * The CLI's settings: the environment when it names a Service Bus namespace or connection (Azure, or any stack you
 * point it at), else the settings of the local stack that `npm start` is running.
 */
export function cliSettings(env: Record<string, string | undefined> = process.env): Settings {
  const configured = env.ServiceBusConnection__fullyQualifiedNamespace ?? env.ServiceBusConnection;
  if (configured) return parseSettings(env);
  if (existsSync(localStackSettingsPath)) {
    const local = JSON.parse(readFileSync(localStackSettingsPath, "utf8")) as Record<string, string>;
    return parseSettings({ ...local, ...env });
  }
  return parseSettings(env);
}

/**
 * Where `catalog publish` and `catalog show` find the catalog blob: the environment when it names CATALOG_BLOB_URL
 * (Azure: `azd env get-value CATALOG_BLOB_URL`, reached with your Azure CLI or azd sign-in), else the local stack's.
 * Only the catalog's settings are read: publishing needs nothing else of the app's configuration.
 */
export function cliCatalogSettings(env: Record<string, string | undefined> = process.env, cwd = process.cwd()) {
  const localPath = join(cwd, localStackSettingsPath);
  const local =
    !env.CATALOG_BLOB_URL && existsSync(localPath)
      ? (JSON.parse(readFileSync(localPath, "utf8")) as Record<string, string>)
      : {};
  const merged = { ...local, ...env };
  const picked = Object.fromEntries(catalogSettingNames.flatMap((n) => (merged[n] ? [[n, merged[n]]] : [])));
  const result = catalogSettingsSchema.safeParse(picked);
  if (!result.success) {
    throw new ConfigurationError(
      `invalid settings: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  if (!result.data.CATALOG_BLOB_URL) {
    throw new ConfigurationError(
      "CATALOG_BLOB_URL: missing (the catalog blob's URL: azd env get-value CATALOG_BLOB_URL, or run npm start)",
    );
  }
  return result.data;
}
