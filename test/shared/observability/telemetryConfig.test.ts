import { describe, expect, it } from "vitest";
import { entraIdOf, telemetryConfigOf } from "../../../shared/observability/telemetryConfig.js";

const connectionString =
  "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/";

describe("the telemetry settings", () => {
  it("load nothing when no exporter is configured", () => {
    expect(telemetryConfigOf({})).toBeUndefined();
  });

  it("export to Application Insights with the managed identity the authentication string names", () => {
    expect(
      telemetryConfigOf({
        APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD",
        WEBSITE_SITE_NAME: "func-imgpipe",
      }),
    ).toEqual({
      serviceName: "func-imgpipe",
      applicationInsights: { connectionString, entraId: { clientId: "11111111-2222-3333-4444-555555555555" } },
    });
  });

  it("export to an OTLP endpoint alone, named image-pipeline outside Azure", () => {
    expect(telemetryConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toEqual({
      serviceName: "image-pipeline",
      otlpEndpoint: "http://127.0.0.1:4318",
    });
  });

  it("refuse an authentication string that does not ask for Entra ID, naming the setting", () => {
    expect(() =>
      telemetryConfigOf({
        APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "ClientId=abc",
      }),
    ).toThrow(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING: Authorization=AAD/);
    expect(() => telemetryConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });

  it("read the authentication string's keys in any order and case; no ClientId is the system-assigned identity", () => {
    expect(entraIdOf("authorization=aad;clientid=abc")).toEqual({ clientId: "abc" });
    expect(entraIdOf("Authorization=AAD")).toEqual({});
    expect(() => entraIdOf("Authorization=AAD;ClientId")).toThrow(/"ClientId" is not a key=value pair/);
  });
});
