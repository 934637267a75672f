import { existsSync, readFileSync } from "node:fs";
import { parseSettings, type Settings } from "../shared/config/settings.js";

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
