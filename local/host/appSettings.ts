import { existsSync, readFileSync } from "node:fs";
import * as z from "zod";
import { LocalHostConfigurationError } from "./errors.js";

/**
 * Resolves `%SettingName%` references in a binding expression (timer schedules, queue names) from the app
 * settings, as the host does. A reference to a setting that is not set is an error.
 */
export function resolveSettingReferences(text: string, env: Record<string, string | undefined>, where: string): string {
  return text.replace(/%([^%]+)%/g, (_match, name: string) => {
    const value = env[name];
    if (value === undefined || value === "") {
      throw new LocalHostConfigurationError(`${where}: '%${name}%' does not resolve to an app setting value`);
    }
    return value;
  });
}

export const localSettingsSchema = z.object({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  Host: z
    .object({ LocalHttpPort: z.number().int().min(0).max(65535).optional(), CORS: z.string().optional() })
    .partial()
    .optional(),
});

/** `local.settings.json` as `func` reads it. */
export type LocalSettings = z.infer<typeof localSettingsSchema>;

/** Reads `local.settings.json` if it exists (an absent file is an empty one). */
export function readLocalSettings(path: string): LocalSettings {
  if (!existsSync(path)) return localSettingsSchema.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new LocalHostConfigurationError(`${path} is not valid JSON`, { cause: error });
  }
  const result = localSettingsSchema.safeParse(raw);
  if (!result.success) {
    // Name the offending paths only: the file holds secrets.
    const paths = result.error.issues.map((i) => i.path.join(".") || "(root)");
    throw new LocalHostConfigurationError(`${path} is invalid at ${paths.join(", ")}`);
  }
  if (result.data.IsEncrypted) {
    throw new LocalHostConfigurationError(`${path} is encrypted; the local host reads plain values only`);
  }
  return result.data;
}

/**
 * The app settings the functions see: `local.settings.json` `Values` under the process environment, which wins
 * (as with `func start`).
 */
export function mergeSettings(
  localValues: LocalSettings["Values"],
  processEnv: Record<string, string | undefined>,
): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(localValues)) merged[name] = String(value);
  for (const [name, value] of Object.entries(processEnv)) if (value !== undefined) merged[name] = value;
  return merged;
}
