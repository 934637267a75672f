import { describe, expect, it } from "vitest";
import { latestVersionOf } from "../../../shared/domain/latest.js";

const v = (name: string, excludeFromLatest: boolean, regions: [string, boolean?][] = []) => ({
  name,
  excludeFromLatest,
  targetRegions: regions.map(([region, exclude]) => ({
    name: region,
    ...(exclude === undefined ? {} : { excludeFromLatest: exclude }),
  })),
});

describe("latestVersionOf", () => {
  it("is the highest version not excluded from latest, compared as numbers", () => {
    expect(latestVersionOf([v("1.0.9", false), v("1.0.10", false), v("1.0.11", true)])?.name).toBe("1.0.10");
  });

  it("in a region, counts only versions that target it, a region's own flag overriding the version's", () => {
    const versions = [
      v("1.0.1", false, [["westeurope"], ["northeurope"]]),
      v("1.0.2", false, [["westeurope"], ["northeurope", true]]),
      v("1.0.3", true, [["westeurope", false]]),
    ];
    expect(latestVersionOf(versions, "West Europe")?.name).toBe("1.0.3");
    expect(latestVersionOf(versions, "northeurope")?.name).toBe("1.0.1");
    expect(latestVersionOf(versions)?.name).toBe("1.0.2");
    expect(latestVersionOf(versions, "eastus2")).toBeUndefined();
  });

  it("ignores names that are not versions", () => {
    expect(latestVersionOf([v("latest", false), v("1.0.0", false)])?.name).toBe("1.0.0");
  });
});
