import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  managedByValue,
  runOutputNameFor,
  stagingResourceGroupNameFor,
  tagNames,
  tagPrefix,
  tagsOf,
  templateNameFor,
  truncateTagValue,
} from "../../../shared/domain/names.js";

// Image Builder's path parameter pattern (imagebuilder.json 2025-10-01) and the resource group naming rule
// ("Naming rules and restrictions for Azure resources", Microsoft.Resources/resourcegroups).
const templateNameRule = /^[A-Za-z0-9-_.]{1,64}$/;
const resourceGroupRule = /^[-\w._()]{0,89}[-\w_()]$/;

describe("resource names", () => {
  it("are readable for ordinary image names", () => {
    expect(templateNameFor("ubuntu-2404", "1.0.3")).toBe("ubuntu-2404-1.0.3");
    expect(stagingResourceGroupNameFor("rg-staging", "ubuntu-2404", "1.0.3")).toBe("rg-staging-ubuntu-2404-1.0.3");
    expect(runOutputNameFor("ubuntu-2404", "1.0.3")).toBe("ubuntu-2404-1.0.3-gallery");
  });

  it("cut long names and add a hash, so two long names sharing a prefix differ", () => {
    const a = `${"very-long-image-name-".repeat(4)}alpha`;
    const b = `${"very-long-image-name-".repeat(4)}beta`;
    const version = "2147483647.2147483647.2147483647";
    expect(templateNameFor(a, version)).toHaveLength(64);
    expect(templateNameFor(a, version)).not.toBe(templateNameFor(b, version));
    expect(templateNameFor(a, version).endsWith(`-${version}`)).toBe(true);
  });

  it("are always valid, deterministic and within their limits", () => {
    const version = fc
      .tuple(fc.nat({ max: 2147483647 }), fc.nat({ max: 2147483647 }), fc.nat({ max: 2147483647 }))
      .map((parts) => parts.join("."));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 120 }), version, (imageName, v) => {
        const template = templateNameFor(imageName, v);
        const staging = stagingResourceGroupNameFor("rg-staging", imageName, v);
        expect(template).toMatch(templateNameRule);
        expect(runOutputNameFor(imageName, v)).toMatch(templateNameRule);
        expect(staging).toMatch(resourceGroupRule);
        expect(templateNameFor(imageName, v)).toBe(template);
        expect(stagingResourceGroupNameFor("rg-staging", imageName, v)).toBe(staging);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("tags", () => {
  it("share one prefix and mark pipeline resources", () => {
    for (const key of Object.values(tagNames)) expect(key.startsWith(tagPrefix)).toBe(true);
    expect(managedByValue).toBe("image-pipeline");
  });

  it("truncate values to 256 characters without splitting a surrogate pair", () => {
    expect(truncateTagValue("refs/heads/main")).toBe("refs/heads/main");
    const long = "x".repeat(300);
    expect(truncateTagValue(long)).toHaveLength(256);
    expect(truncateTagValue(long).endsWith("…")).toBe(true);
    const emoji = `${"a".repeat(254)}😀tail`;
    const cut = truncateTagValue(emoji);
    expect(cut.length).toBeLessThanOrEqual(256);
    expect(cut).toBe(`${"a".repeat(254)}…`);
  });

  it("drop unset values", () => {
    expect(tagsOf({ [tagNames.buildId]: "b-1", [tagNames.commit]: undefined })).toEqual({ [tagNames.buildId]: "b-1" });
  });
});
