import { settingsSchema } from "../config/settings.js";
import { ConfigurationError } from "../errors.js";

/** Where spans (and, for Application Insights, log lines) are exported. */
export interface TelemetryConfig {
  /** `service.name` of the resource: Application Insights' cloud role name. */
  serviceName: string;
  /** Application Insights, with Entra ID when `clientId` or `systemAssigned` is given. */
  applicationInsights?: { connectionString: string; entraId?: { clientId?: string } };
  /** An OTLP/HTTP endpoint (base URL; spans are posted to `<endpoint>/v1/traces`). */
  otlpEndpoint?: string;
  /** How long finished spans wait to be exported in one batch (the SDK's default is 5 s). */
  exportDelayInMs?: number;
}

const telemetrySettingsSchema = settingsSchema.pick({
  APPLICATIONINSIGHTS_CONNECTION_STRING: true,
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: true,
  OTEL_EXPORTER_OTLP_ENDPOINT: true,
});

/**
 * The `ClientId` of an `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`Authorization=AAD;ClientId=<id>`, keys in any
 * order and case): undefined means the system-assigned identity.
 */
export function entraIdOf(authenticationString: string): { clientId?: string } {
  const pairs = new Map<string, string>();
  for (const part of authenticationString.split(";")) {
    if (part.trim() === "") continue;
    const [key, value, ...rest] = part.split("=");
    if (!key || value === undefined || rest.length > 0) {
      throw new ConfigurationError(`APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "${part}" is not a key=value pair`);
    }
    pairs.set(key.trim().toLowerCase(), value.trim());
  }
  if (pairs.get("authorization")?.toUpperCase() !== "AAD") {
    throw new ConfigurationError("APPLICATIONINSIGHTS_AUTHENTICATION_STRING: Authorization=AAD is missing");
  }
  const clientId = pairs.get("clientid");
  return clientId ? { clientId } : {};
}

/**
 * What to export, from the app settings (read on their own: a bad pipeline setting must not stop telemetry, which is
 * how it would be diagnosed). Undefined when no exporter is configured: nothing is loaded then.
 * @throws ConfigurationError when a telemetry setting is invalid
 */
export function telemetryConfigOf(env: Record<string, string | undefined>): TelemetryConfig | undefined {
  const picked = Object.fromEntries(
    Object.keys(telemetrySettingsSchema.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : [])),
  );
  const parsed = telemetrySettingsSchema.safeParse(picked);
  if (!parsed.success) {
    throw new ConfigurationError(
      `invalid settings: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const settings = parsed.data;
  if (!settings.APPLICATIONINSIGHTS_CONNECTION_STRING && !settings.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return {
    // The Functions host names its telemetry after the site (WEBSITE_SITE_NAME, set by the platform): the same name
    // puts the app's spans in the same role as the host's on the application map.
    serviceName: env.WEBSITE_SITE_NAME || "image-pipeline",
    ...(settings.APPLICATIONINSIGHTS_CONNECTION_STRING
      ? {
          applicationInsights: {
            connectionString: settings.APPLICATIONINSIGHTS_CONNECTION_STRING,
            ...(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING
              ? { entraId: entraIdOf(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING) }
              : {}),
          },
        }
      : {}),
    ...(settings.OTEL_EXPORTER_OTLP_ENDPOINT ? { otlpEndpoint: settings.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
  };
}
