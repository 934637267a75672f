import { describe, expect, it } from "vitest";
import { sourceProblems } from "../../../shared/domain/sourceImage.js";
import { aCatalogImage } from "../../factories.js";

const trustedLaunchSupported = aCatalogImage();
const standardGen1 = aCatalogImage({
  definition: { hyperVGeneration: "V1", features: [{ name: "SecurityType", value: "Standard" }] },
});

describe("sourceProblems", () => {
  it("accepts a Gen2 Trusted-Launch-capable platform image into a TrustedLaunchSupported definition", () => {
    expect(
      sourceProblems(trustedLaunchSupported, {
        hyperVGeneration: "V2",
        osType: "Linux",
        architecture: "x64",
        securityType: "TrustedLaunchAndConfidentialVmSupported",
      }),
    ).toEqual([]);
  });

  it("refuses a source of another Hyper-V generation, OS type or architecture than the definition's", () => {
    const problems = sourceProblems(trustedLaunchSupported, {
      hyperVGeneration: "V1",
      osType: "Windows",
      architecture: "Arm64",
    });
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).toMatch(/generation V1 but the image definition is V2/);
    expect(problems.join("\n")).toMatch(/Windows but the image definition is Linux/);
    expect(problems.join("\n")).toMatch(/Arm64 but the image definition is x64/);
  });

  it("refuses a standard source into a Trusted-Launch-capable definition and the other way round (Image Builder)", () => {
    expect(sourceProblems(trustedLaunchSupported, { hyperVGeneration: "V2", securityType: "Standard" })).toEqual([
      expect.stringMatching(/security type is Standard but the image definition's is TrustedLaunchSupported/),
    ]);
    expect(sourceProblems(standardGen1, { hyperVGeneration: "V1", securityType: "TrustedLaunchSupported" })).toEqual([
      expect.stringMatching(/TrustedLaunchSupported but the image definition's is Standard/),
    ]);
  });

  it("reads a Gen2 definition without a SecurityType feature as TrustedLaunchSupported, Azure's default, and says so", () => {
    const undeclared = {
      ...trustedLaunchSupported,
      definition: { ...trustedLaunchSupported.definition, features: [] },
    };
    expect(sourceProblems(undeclared, { hyperVGeneration: "V2", securityType: "Standard" })).toEqual([
      expect.stringMatching(/declare SecurityType Standard for a standard image/),
    ]);
  });

  it("has nothing to say when Azure said nothing of the source, or of its security type", () => {
    expect(sourceProblems(standardGen1, {})).toEqual([]);
    expect(sourceProblems(trustedLaunchSupported, { hyperVGeneration: "V2", osType: "Linux" })).toEqual([]);
  });
});
