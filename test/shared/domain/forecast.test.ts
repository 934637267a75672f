import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCatalog } from "../../../shared/catalog/load.js";
import { defaultPriceTable, priceTableOf } from "../../../shared/catalog/priceTable.js";
import type { Catalog } from "../../../shared/catalog/schema.js";
import { forecastCatalog, galleryLimits } from "../../../shared/domain/forecast.js";

function catalogOf(text: string): Catalog {
  const result = parseCatalog(text, "test.yaml");
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.catalog;
}
const sample = catalogOf(readFileSync(new URL("../../../images.yaml", import.meta.url), "utf8"));

/** The sample catalog with edits to one image (a deep copy, parsed again so defaults apply). */
function sampleWith(edit: (images: Record<string, unknown>[]) => void): Catalog {
  const raw = structuredClone(sample) as unknown as { images: Record<string, unknown>[] };
  edit(raw.images);
  return catalogOf(JSON.stringify(raw));
}

describe("forecast of the sample catalog (images.yaml), against a hand computation", () => {
  /*
   * Builds are counted from 2027-01-01T00:00Z over max(endOfLifeDays, minAgeDays) days:
   * ubuntu-2404, daily at 02:30, 90 days: Jan 1 .. Mar 31 = 31 + 28 + 31 = 90 builds, above keepLatest 3 -> 90 versions.
   *   Replicas: westeurope 2 + northeurope 1 = 3, Standard_ZRS, 64 GB each (build.osDiskSizeGB).
   *   90 x 3 x 64 = 17,280 replica-GB-months; x 0.06 = 1,036.80 USD.
   * windows-2022, Wednesdays at 04:00, 120 days (to May 1): Jan 6..27 (4), Feb 3..24 (4), Mar 3..31 (5), Apr 7..28 (4)
   *   = 17 builds, above keepLatest 2 -> 17 versions. Replicas: westeurope 1 + eastus2 1 = 2, Standard_LRS, 128 GB.
   *   17 x 2 x 128 = 4,352 replica-GB-months; x 0.05 = 217.60 USD.
   * westeurope (both galleries' region): 1 gallery, 2 definitions, 90 + 17 = 107 versions.
   */
  const forecast = forecastCatalog(sample.images, defaultPriceTable, "sub-1");

  it("counts each definition's steady-state versions from its schedule and retention", () => {
    expect(forecast.images.map((f) => [f.image, f.buildsKept, f.versions])).toEqual([
      ["ubuntu-2404", 90, 90],
      ["windows-2022", 17, 17],
    ]);
  });

  it("prices every replica of every kept version as a snapshot of its size", () => {
    expect(forecast.images.map((f) => [f.replicaGBMonths, f.monthlyCost])).toEqual([
      [17_280, 1036.8],
      [4352, 217.6],
    ]);
    expect(forecast.totals).toEqual({ versions: 107, replicaGBMonths: 21_632, monthlyCost: 1254.4 });
  });

  it("counts galleries, definitions and versions per subscription and region, within Azure's limits", () => {
    expect(forecast.regions).toEqual([
      { subscriptionId: "sub-1", region: "westeurope", galleries: 1, definitions: 2, versions: 107 },
    ]);
    expect(forecast.warnings).toEqual([]);
  });

  it("uses a price file's prices and sizes over the defaults", () => {
    const prices = priceTableOf({ currency: "EUR", perGBMonth: { Standard_ZRS: 0.1 }, imageSizeInGB: { default: 10 } });
    const [ubuntu, windows] = forecastCatalog(sample.images, prices).images;
    // 90 x 3 x 10 = 2,700 GB-months x 0.10; 17 x 2 x 10 = 340 GB-months x 0.05 (the default LRS price kept).
    expect([ubuntu!.replicaGBMonths, ubuntu!.monthlyCost, ubuntu!.sizeFrom]).toEqual([2700, 270, "price table"]);
    expect([windows!.replicaGBMonths, windows!.monthlyCost]).toEqual([340, 17]);
  });

  it("counts superseded versions with the replicas the shrink policy leaves them", () => {
    const catalog = sampleWith(([ubuntu]) => {
      (ubuntu!["retention"] as Record<string, unknown>)["shrinkSuperseded"] = {
        afterNewerVersions: 2,
        regionalReplicaCount: 1,
        keepRegions: "home",
      };
    });
    const [ubuntu] = forecastCatalog(catalog.images, defaultPriceTable).images;
    // The newest 2 keep 3 replicas; the other 88 keep 1 in westeurope: (2 x 3 + 88 x 1) x 64 = 6,016 GB-months.
    expect([ubuntu!.fullVersions, ubuntu!.shrunkVersions]).toEqual([2, 88]);
    expect(ubuntu!.shrunkRegions).toEqual([{ region: "westeurope", replicas: 1, storageAccountType: "Standard_ZRS" }]);
    expect([ubuntu!.replicaGBMonths, ubuntu!.monthlyCost]).toEqual([6016, 360.96]);
  });

  it("flags a catalog whose steady state exceeds 10,000 versions in a subscription and region", () => {
    // Hourly builds kept 500 days: 24 x 500 = 12,000 versions of ubuntu-2404 alone.
    const catalog = sampleWith(([ubuntu]) => {
      ubuntu!["schedule"] = { cron: "0 0 * * * *" };
      (ubuntu!["retention"] as Record<string, unknown>)["endOfLifeDays"] = 500;
    });
    const forecast = forecastCatalog(catalog.images, defaultPriceTable, "sub-1");
    expect(forecast.images[0]!.versions).toBe(12_000);
    expect(forecast.warnings).toEqual([
      expect.objectContaining({
        limit: "versionsPerSubscriptionRegion",
        max: galleryLimits.versionsPerSubscriptionRegion,
        forecast: 12_017,
        scope: "sub-1/westeurope",
      }),
    ]);
  });

  it("counts only keepLatest versions for an image without a schedule", () => {
    const catalog = sampleWith(([ubuntu]) => delete ubuntu!["schedule"]);
    const [ubuntu] = forecastCatalog(catalog.images, defaultPriceTable).images;
    expect([ubuntu!.scheduled, ubuntu!.versions]).toEqual([false, 3]);
  });
});
