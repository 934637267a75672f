import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mergeSettings, readLocalSettings, resolveSettingReferences } from "../../../local/host/appSettings.js";
import { LocalHostConfigurationError } from "../../../local/host/errors.js";
import { parseHostJson, parseTimeSpanInMs, readHostJson } from "../../../local/host/hostJson.js";
import { compareRoutePrecedence, matchRoute, parseRouteTemplate } from "../../../local/host/routes.js";
import { functionTable } from "../../../functions/table.js";

describe("host.json", () => {
  it("reads the repository's host.json with the Service Bus settings in milliseconds", () => {
    const hostJson = readHostJson();
    expect(hostJson.extensions.http.routePrefix).toBe("api");
    expect(hostJson.extensions.serviceBus).toMatchObject({
      prefetchCount: 0,
      autoCompleteMessages: true,
      maxAutoLockRenewalDuration: 300_000,
      maxConcurrentCalls: 16,
    });
  });

  it("fills in the Service Bus extension's defaults when host.json says nothing", () => {
    expect(parseHostJson({ version: "2.0" }).extensions).toEqual({
      http: { routePrefix: "api" },
      serviceBus: {
        prefetchCount: 0,
        autoCompleteMessages: true,
        maxAutoLockRenewalDuration: 300_000,
        maxConcurrentCalls: 16,
        clientRetryOptions: { mode: "exponential", tryTimeout: 60_000, delay: 800, maxDelay: 60_000, maxRetries: 3 },
      },
    });
  });

  it("reads .NET TimeSpans, days and fractions included, and rejects others", () => {
    expect(parseTimeSpanInMs("00:05:00")).toBe(300_000);
    expect(parseTimeSpanInMs("1.02:00:00")).toBe(26 * 3_600_000);
    expect(parseTimeSpanInMs("00:00:01.5")).toBe(1500);
    expect(() => parseTimeSpanInMs("5m")).toThrow(LocalHostConfigurationError);
    expect(() => parseHostJson({ extensions: { serviceBus: { maxConcurrentCalls: 0 } } })).toThrow(
      /maxConcurrentCalls/,
    );
  });
});

describe("app settings", () => {
  const dir = mkdtempSync(join(tmpdir(), "local-host-settings-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("puts local.settings.json Values under the process environment, as func does", () => {
    const path = join(dir, "local.settings.json");
    writeFileSync(
      path,
      JSON.stringify({ IsEncrypted: false, Values: { PRUNE_DRY_RUN: "true", ARM_MAX_READS_PER_SECOND: 10 } }),
    );
    const merged = mergeSettings(readLocalSettings(path).Values, { PRUNE_DRY_RUN: "false", PATH: "/usr/bin" });
    expect(merged).toMatchObject({ PRUNE_DRY_RUN: "false", ARM_MAX_READS_PER_SECOND: "10", PATH: "/usr/bin" });
  });

  it("treats a missing local.settings.json as empty and names the bad path of an invalid one without its values", () => {
    expect(readLocalSettings(join(dir, "absent.json")).Values).toEqual({});
    const path = join(dir, "bad.json");
    writeFileSync(path, JSON.stringify({ Values: { WEBHOOK_SECRET: { nested: "s3cr3t-value" } } }));
    expect(() => readLocalSettings(path)).toThrow(/Values\.WEBHOOK_SECRET/);
    expect(() => readLocalSettings(path)).not.toThrow(/s3cr3t-value/);
  });

  it("resolves %SETTING% references and refuses unresolved ones", () => {
    expect(resolveSettingReferences("%Q%-dlq", { Q: "build-requests" }, "queue")).toBe("build-requests-dlq");
    expect(() => resolveSettingReferences("%NIGHTLY_SCHEDULE%", {}, "timer")).toThrow(/NIGHTLY_SCHEDULE/);
  });
});

describe("route templates", () => {
  it("rank literals before parameters before optional parameters", () => {
    const templates = ["images/{name?}", "images/{name}", "images/latest"].map(parseRouteTemplate);
    expect(templates.sort(compareRoutePrecedence).map((t) => t.template)).toEqual([
      "images/latest",
      "images/{name}",
      "images/{name?}",
    ]);
  });

  it("read every route of the app's function table", () => {
    const routes = functionTable.flatMap((f) => (f.trigger === "http" ? [f.options.route ?? f.name] : []));
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) expect(() => parseRouteTemplate(route)).not.toThrow();
    expect(matchRoute(parseRouteTemplate("images/{name?}"), "images")).toEqual({});
    expect(matchRoute(parseRouteTemplate("images/{name?}"), "Images/ubuntu%2D2404")).toEqual({ name: "ubuntu-2404" });
  });

  it("reject templates the local host does not serve, and an optional parameter before the end", () => {
    for (const template of ["a/{x?}/b", "a/{x:int}", "a/{*rest}", "runs/{state=running}", "a/{x}{y}"]) {
      expect(() => parseRouteTemplate(template), template).toThrow(LocalHostConfigurationError);
    }
  });
});
