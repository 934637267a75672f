import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { catalogJsonSchema, catalogJsonSchemaPath } from "../../../shared/catalog/jsonSchema.js";
import {
  CatalogInvalidError,
  catalogEntryHash,
  findImage,
  loadCatalog,
  parseCatalog,
} from "../../../shared/catalog/load.js";
import type { CatalogError } from "../../../shared/catalog/load.js";
import { deepMerge, aCatalogImageInput } from "../../factories.js";
import type { CatalogImageInput } from "../../factories.js";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/catalog/${name}`, import.meta.url), "utf8");
const repoFile = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");

function errorsOf(images: unknown[]): CatalogError[] {
  const result = parseCatalog(stringify({ images }));
  if (result.ok) throw new Error("expected the catalog to be invalid");
  return result.errors;
}
function isValid(overrides: unknown): boolean {
  return parseCatalog(stringify({ images: [deepMerge(aCatalogImageInput(), overrides)] })).ok;
}
function errorsFor(overrides: unknown): string[] {
  return errorsOf([deepMerge(aCatalogImageInput(), overrides)]).map((e) => `${e.path}: ${e.message}`);
}

describe("the sample catalog", () => {
  it("is valid, with a Linux Gen2 image that supports Trusted Launch in two regions and a Windows Server 2022 image", () => {
    const result = parseCatalog(repoFile("images.yaml"));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [linux, windows] = result.catalog.images;
    expect(linux?.definition).toMatchObject({ osType: "Linux", hyperVGeneration: "V2", name: "ubuntu-2404" });
    expect(linux?.definition.features).toContainEqual({ name: "SecurityType", value: "TrustedLaunchSupported" });
    expect(linux?.distribution.targetRegions).toHaveLength(2);
    expect(windows?.definition.osType).toBe("Windows");
    expect(windows?.source).toMatchObject({ sku: "2022-datacenter-azure-edition" });
  });

  it("points editors at the committed JSON Schema", () => {
    expect(repoFile("images.yaml").split("\n")[0]).toBe("# yaml-language-server: $schema=./schemas/images.schema.json");
  });

  it("has a committed JSON Schema that matches the zod schema (run `npm run schema` when this fails)", () => {
    expect(JSON.parse(repoFile(catalogJsonSchemaPath))).toEqual(JSON.parse(JSON.stringify(catalogJsonSchema())));
  });
});

describe("defaults", () => {
  it("make a minimal entry short", () => {
    const result = parseCatalog(fixture("minimal.yaml"));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const image = result.catalog.images[0]!;
    expect(image.definition).toMatchObject({
      name: "ubuntu-2404",
      osState: "Generalized",
      hyperVGeneration: "V2",
      architecture: "x64",
      features: [],
    });
    expect(image.source).toMatchObject({ version: "latest" });
    expect(image.build).toMatchObject({
      buildTimeoutInMinutes: 120,
      errorHandling: { onCustomizerError: "cleanup", onValidationError: "cleanup" },
    });
    expect(image.distribution).toMatchObject({
      replicaCount: 1,
      storageAccountType: "Standard_LRS",
      replicationMode: "Full",
    });
    expect(image.versioning).toEqual({ scheme: "date" });
    expect(image.retention).toEqual({
      endOfLifeDays: 90,
      keepLatest: 3,
      minAgeDays: 7,
      maxDeletionsPerRun: 10,
      dryRun: false,
      includeUnmanaged: false,
    });
    expect(image.customize).toEqual([]);
    expect(image.schedule).toBeUndefined();
  });

  it("default skipIfUnchanged to true, and a schedule disables itself after 3 consecutive failed builds", () => {
    const result = parseCatalog(stringify({ images: [aCatalogImageInput({ schedule: { cron: "0 30 2 * * *" } })] }));
    expect(result.ok && result.catalog.images[0]?.schedule).toEqual({
      cron: "0 30 2 * * *",
      skipIfUnchanged: true,
      disableAfterFailedBuilds: 3,
    });
  });
});

describe("catalog validation", () => {
  it.each([
    ["-ubuntu", "name"],
    ["ubuntu_2404", "name"],
    ["ubuntu-", "name"],
    ["x".repeat(81), "name"],
  ])("rejects the image name %s", (name, path) => {
    expect(errorsFor({ name }).some((e) => e.startsWith(`images[0].${path}:`))).toBe(true);
  });

  it("accepts definition names with dots and dashes up to 80 characters", () => {
    const image = aCatalogImageInput({ name: `a.b-${"c".repeat(76)}` });
    expect(parseCatalog(stringify({ images: [image] })).ok).toBe(true);
  });

  it.each(["acg-golden", "_acg", "acg.", "x".repeat(81)])("rejects the gallery name %s", (name) => {
    expect(errorsFor({ gallery: { name } })).toEqual([
      expect.stringMatching(/^images\[0\]\.gallery\.name: must be 1-80 letters, digits, dots or underscores/),
    ]);
  });

  it("rejects a display-name region with a hint at the programmatic form", () => {
    expect(errorsFor({ distribution: { targetRegions: [{ name: "westeurope" }, { name: "North Europe" }] } })).toEqual([
      'images[0].distribution.targetRegions[1].name: "North Europe" is not a region name: use the programmatic form "northeurope"',
    ]);
  });

  it("requires the definition's region among the target regions, each listed once", () => {
    expect(errorsFor({ build: { location: "eastus2" } })).toEqual([
      "images[0].build.location: the image definition's region eastus2 (where each version is created) must be one of distribution.targetRegions",
    ]);
    expect(errorsFor({ gallery: { location: "swedencentral" } })).toEqual([
      "images[0].gallery.location: the image definition's region swedencentral (where each version is created) must be one of distribution.targetRegions",
    ]);
    // The build may run elsewhere: Image Builder copies its output to the definition's region.
    expect(isValid({ build: { location: "eastus2" }, gallery: { location: "westeurope" } })).toBe(true);
    expect(errorsFor({ distribution: { targetRegions: [{ name: "westeurope" }, { name: "westeurope" }] } })).toEqual([
      "images[0].distribution.targetRegions[1].name: region westeurope is listed twice",
    ]);
  });

  it("keeps replica counts within 1..100", () => {
    expect(errorsFor({ distribution: { replicaCount: 0 } })).toEqual([
      expect.stringMatching(/^images\[0\]\.distribution\.replicaCount: Too small/),
    ]);
    expect(errorsFor({ distribution: { targetRegions: [{ name: "westeurope", regionalReplicaCount: 101 }] } })).toEqual(
      [expect.stringMatching(/^images\[0\]\.distribution\.targetRegions\[0\]\.regionalReplicaCount: Too big/)],
    );
  });

  it("allows Windows steps only on Windows images and Shell only on Linux", () => {
    const linux = errorsFor({
      customize: [
        { type: "WindowsRestart", name: "r" },
        { type: "WindowsUpdate", name: "u" },
        { type: "PowerShell", name: "p", inline: ["x"] },
      ],
      validate: { inVMValidations: [{ type: "PowerShell", name: "v", inline: ["x"] }] },
    });
    expect(linux).toEqual([
      "images[0].customize[0].type: a WindowsRestart step needs a Windows image; definition.osType is Linux",
      "images[0].customize[1].type: a WindowsUpdate step needs a Windows image; definition.osType is Linux",
      "images[0].customize[2].type: a PowerShell step needs a Windows image; definition.osType is Linux",
      "images[0].validate.inVMValidations[0].type: a PowerShell step needs a Windows image; definition.osType is Linux",
    ]);
    expect(errorsFor({ definition: { osType: "Windows" } })).toEqual([
      "images[0].customize[0].type: a Shell step needs a Linux image; definition.osType is Windows",
    ]);
  });

  it("requires exactly one of scriptUri or inline, a 64-hex checksum with scriptUri, and runElevated for runAsSystem", () => {
    const errors = errorsFor({
      definition: { osType: "Windows" },
      customize: [
        {
          type: "PowerShell",
          name: "both",
          inline: ["x"],
          scriptUri: "https://x.example/a.ps1",
          sha256Checksum: "a".repeat(64),
        },
        { type: "PowerShell", name: "neither", runAsSystem: true },
        { type: "File", name: "short", sourceUri: "https://x.example/f", destination: "C:\\f", sha256Checksum: "abc" },
      ],
    });
    expect(errors).toEqual([
      "images[0].customize[0].scriptUri: give exactly one of scriptUri or inline",
      "images[0].customize[0].sha256Checksum: sha256Checksum applies to scriptUri only",
      "images[0].customize[1].scriptUri: give exactly one of scriptUri or inline",
      "images[0].customize[1].runAsSystem: runAsSystem requires runElevated: true",
      "images[0].customize[2].sha256Checksum: must be a SHA-256 checksum: 64 hexadecimal characters",
    ]);
  });

  it("checks Arm64 and Trusted Launch support need Gen2, and buildTimeoutInMinutes stays within Image Builder's 6..960", () => {
    expect(errorsFor({ definition: { hyperVGeneration: "V1", architecture: "Arm64" } }).sort()).toEqual([
      "images[0].definition.architecture: Arm64 images must be hyperVGeneration V2",
      "images[0].definition.features[0].value: SecurityType TrustedLaunchSupported requires hyperVGeneration V2",
    ]);
    for (const minutes of [5, 961]) {
      expect(errorsFor({ build: { buildTimeoutInMinutes: minutes } })).toEqual([
        "images[0].build.buildTimeoutInMinutes: Image Builder's buildTimeoutInMinutes is 6..960 minutes",
      ]);
    }
  });

  it("refuses what Image Builder cannot build: TrustedLaunch and ConfidentialVM definitions, saying what to use", () => {
    for (const [value, instead] of [
      ["TrustedLaunch", "TrustedLaunchSupported"],
      ["ConfidentialVM", "TrustedLaunchAndConfidentialVmSupported"],
    ]) {
      expect(errorsFor({ definition: { features: [{ name: "SecurityType", value }] } })).toEqual([
        expect.stringMatching(
          new RegExp(
            `^images\\[0\\]\\.definition\\.features\\[0\\]\\.value: SecurityType ${value}: Image Builder cannot distribute to .*use ${instead}`,
          ),
        ),
      ]);
    }
  });

  it("refuses a fixed staging resource group, which overlapping builds would share, pointing at the prefix", () => {
    expect(errorsFor({ build: { stagingResourceGroup: "rg-staging" } })).toEqual([
      expect.stringMatching(
        /^images\[0\]\.build\.stagingResourceGroup: a fixed staging resource group .*stagingResourceGroupPrefix/,
      ),
    ]);
    expect(isValid({ build: { stagingResourceGroupPrefix: "rg-staging" } })).toBe(true);
  });

  it("refuses PremiumV2_LRS storage in the definition's region, which Image Builder writes", () => {
    expect(errorsFor({ distribution: { storageAccountType: "PremiumV2_LRS" } })).toEqual([
      "images[0].distribution.storageAccountType: storage type PremiumV2_LRS in westeurope: Image Builder writes the version there and supports Standard_LRS, Standard_ZRS and Premium_LRS only",
    ]);
    expect(
      isValid({
        distribution: {
          targetRegions: [{ name: "westeurope" }, { name: "northeurope", storageAccountType: "PremiumV2_LRS" }],
        },
      }),
    ).toBe(true);
  });

  it("keeps semver components within int32 and rejects a bad schedule naming the field", () => {
    expect(errorsFor({ versioning: { major: 2147483648 } })).toEqual([
      expect.stringMatching(/^images\[0\]\.versioning\.major: Too big/),
    ]);
    expect(errorsFor({ schedule: { cron: "0 0 25 * * *" } })).toEqual([
      'images[0].schedule.cron: hour field "25": 25 is out of range 0-23',
    ]);
  });

  it("rejects unknown fields, so a typo is not silently ignored", () => {
    expect(errorsFor({ build: { buildTimeoutInMinute: 30 } })).toEqual([
      "images[0].build.buildTimeoutInMinute: unknown field (check its spelling against the schema)",
    ]);
  });

  it("requires unique image names, definition names and publisher/offer/sku per gallery", () => {
    const first = aCatalogImageInput();
    const sameTriple = deepMerge(aCatalogImageInput(), { name: "ubuntu-2404-b" }) as CatalogImageInput;
    const sameDefinition = deepMerge(aCatalogImageInput(), {
      name: "ubuntu-2404-c",
      definition: { name: "UBUNTU-2404", sku: "other" },
    });
    const otherGallery = deepMerge(aCatalogImageInput(), { name: "ubuntu-2404-d", gallery: { name: "acg_other" } });
    const sameName = deepMerge(aCatalogImageInput(), { name: "Ubuntu-2404", definition: { name: "x", sku: "y" } });
    expect(
      errorsOf([first, sameTriple, sameDefinition, otherGallery, sameName]).map((e) => `${e.path}: ${e.message}`),
    ).toEqual([
      "images[1].definition.sku: publisher/offer/sku contoso/ubuntu-server/24_04-lts-gen2 in gallery acg_golden is already used by images[0]",
      'images[2].definition.name: image definition "ubuntu-2404" in gallery acg_golden is already used by images[0]',
      'images[4].name: image name "Ubuntu-2404" is already used by images[0]',
    ]);
  });

  it("reports every error at once, even when other fields of the same image are invalid", () => {
    const errors = errorsOf([
      deepMerge(aCatalogImageInput(), { build: { location: "eastus", vmSize: "not a size" } }),
      deepMerge(aCatalogImageInput(), { source: { type: "Marketplace" } }),
    ]).map((e) => e.path);
    expect(errors).toEqual(
      expect.arrayContaining([
        "images[0].build.vmSize",
        "images[0].build.location",
        "images[1].source.type",
        "images[1].name",
      ]),
    );
  });

  it("accepts YAML anchors and merge keys for settings shared between images", () => {
    const first = fixture("minimal.yaml").replace(
      "build: { location: westeurope }",
      "build: &build { location: westeurope, vmSize: Standard_D2s_v5 }",
    );
    const second = [
      "  - name: ubuntu-2204",
      "    gallery: { resourceGroup: rg-golden-images, name: acg_golden }",
      "    definition: { publisher: contoso, offer: ubuntu-server, sku: 22_04-lts-gen2, osType: Linux }",
      "    source: { type: PlatformImage, publisher: Canonical, offer: 0001-com-ubuntu-server-jammy, sku: 22_04-lts-gen2 }",
      "    build: { <<: *build, osDiskSizeGB: 64 }",
      "    distribution: { targetRegions: [{ name: westeurope }] }",
    ].join("\n");
    const result = parseCatalog(`${first}${second}\n`);
    expect(result.ok && result.catalog.images[1]?.build).toMatchObject({
      location: "westeurope",
      vmSize: "Standard_D2s_v5",
      osDiskSizeGB: 64,
    });
  });

  it("rejects duplicate keys", () => {
    const result = parseCatalog(fixture("minimal.yaml").replace("images:", "images: []\nimages:"));
    expect(result.ok).toBe(false);
  });

  it("reports YAML syntax errors with line and column", () => {
    const result = parseCatalog("images:\n  - name: a\n    gallery: [unclosed\n", "broken.yaml");
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]).toMatchObject({ path: "", line: expect.any(Number), column: expect.any(Number) });
    expect(result.errors[0]?.message).toMatch(/^broken\.yaml: YAML syntax error/);
  });

  it("gives schema errors the line of the offending value", () => {
    const result = parseCatalog(fixture("broken.yaml"));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.find((e) => e.path === "images[0].build.location")).toMatchObject({ line: 25 });
  });
});

describe("loadCatalog and findImage", () => {
  it("load a valid file and find images case-insensitively", () => {
    const catalog = loadCatalog(new URL("../../../images.yaml", import.meta.url).pathname);
    expect(findImage(catalog, "Windows-2022")?.name).toBe("windows-2022");
    expect(findImage(catalog, "debian-12")).toBeUndefined();
  });

  it("throw CatalogInvalidError carrying every error", () => {
    const dir = mkdtempSync(join(tmpdir(), "catalog-"));
    try {
      const path = join(dir, "images.yaml");
      writeFileSync(path, fixture("broken.yaml"));
      let error: unknown;
      try {
        loadCatalog(path);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CatalogInvalidError);
      expect((error as CatalogInvalidError).code).toBe("CATALOG_INVALID");
      expect((error as CatalogInvalidError).errors.length).toBeGreaterThanOrEqual(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("catalogEntryHash", () => {
  const parse = (text: string) => {
    const result = parseCatalog(text);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    return result.catalog.images[0]!;
  };
  const minimal = fixture("minimal.yaml");

  it("is stable across runs for the same entry", () => {
    expect(catalogEntryHash(parse(minimal))).toBe("1e2103ad9c0a342259ffc82af8c57fa5774274866d4224f0de6e11030a624a3f");
  });

  it("ignores comments, key order and spelled-out defaults but not effective changes", () => {
    const base = catalogEntryHash(parse(minimal));
    const reordered = minimal
      .replace("# The shortest useful entry: everything else takes its default.\n", "")
      .replace("{ publisher: contoso, offer: ubuntu-server,", "{ offer: ubuntu-server, publisher: contoso,");
    expect(catalogEntryHash(parse(reordered))).toBe(base);
    expect(
      catalogEntryHash(
        parse(
          minimal.replace(
            "build: { location: westeurope }",
            "build: { location: westeurope, buildTimeoutInMinutes: 120 }",
          ),
        ),
      ),
    ).toBe(base);
    expect(
      catalogEntryHash(
        parse(
          minimal.replace(
            "build: { location: westeurope }",
            "build: { location: westeurope, buildTimeoutInMinutes: 121 }",
          ),
        ),
      ),
    ).not.toBe(base);
  });
});

describe("progressive rollout and shrinking in the catalog", () => {
  const regions = { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }, { name: "eastus2" }] };
  const waves = (...w: string[][]) => ({
    distribution: { ...regions, rollout: { waves: w.map((r) => ({ regions: r })) } },
  });

  it("accepts waves that cover every target region once, and defaults the soak to an hour", () => {
    const result = parseCatalog(
      stringify({ images: [deepMerge(aCatalogImageInput(), waves(["westeurope"], ["northeurope", "eastus2"]))] }),
    );
    expect(result.ok && result.catalog.images[0]!.distribution.rollout).toEqual({
      soakInMinutes: 60,
      waves: [{ regions: ["westeurope"] }, { regions: ["northeurope", "eastus2"] }],
    });
  });

  it("refuses a region in no wave, in two waves, not targeted, or kept out of latest, and a single wave", () => {
    expect(errorsFor(waves(["westeurope"], ["northeurope"]))).toEqual([
      "images[0].distribution.targetRegions[2].name: eastus2 is in no wave of distribution.rollout: latest would never reach it (add it to a wave, or set its excludeFromLatest)",
    ]);
    expect(errorsFor(waves(["westeurope", "eastus2"], ["northeurope", "westeurope"]))).toEqual([
      "images[0].distribution.rollout.waves[1].regions[1]: westeurope is already in wave 1",
    ]);
    expect(errorsFor(waves(["westeurope", "eastus2"], ["northeurope", "uksouth"]))).toEqual([
      "images[0].distribution.rollout.waves[1].regions[1]: uksouth is not one of distribution.targetRegions",
    ]);
    const excluded = deepMerge(waves(["westeurope", "eastus2"], ["northeurope"]), {
      distribution: {
        targetRegions: [{ name: "westeurope" }, { name: "northeurope", excludeFromLatest: true }, { name: "eastus2" }],
      },
    });
    expect(errorsFor(excluded)).toEqual([
      "images[0].distribution.rollout.waves[1].regions[0]: northeurope is kept out of latest (excludeFromLatest): it belongs in no wave",
    ]);
    expect(errorsFor(waves(["westeurope", "northeurope", "eastus2"]))).toEqual([
      expect.stringMatching(/^images\[0\]\.distribution\.rollout\.waves: a rollout needs at least two waves/),
    ]);
  });

  it("calls a health check over https only, without credentials in its URL", () => {
    const withCheck = (url: string) =>
      deepMerge(waves(["westeurope"], ["northeurope", "eastus2"]), {
        distribution: { rollout: { healthCheck: { url } } },
      });
    expect(isValid(withCheck("https://health.contoso.example/images"))).toBe(true);
    expect(errorsFor(withCheck("http://health.contoso.example/images"))).toEqual([
      "images[0].distribution.rollout.healthCheck.url: must be an https URL",
    ]);
    expect(errorsFor(withCheck("https://ops:hunter2@health.contoso.example/"))).toEqual([
      "images[0].distribution.rollout.healthCheck.url: must not carry credentials: the endpoint is called without any",
    ]);
  });

  it("shrinks superseded versions only when asked, to a replica count within 1..100", () => {
    const parsed = parseCatalog(
      stringify({ images: [deepMerge(aCatalogImageInput(), { retention: { shrinkSuperseded: {} } })] }),
    );
    expect(parsed.ok && parsed.catalog.images[0]!.retention.shrinkSuperseded).toEqual({
      afterNewerVersions: 1,
      regionalReplicaCount: 1,
      keepRegions: "all",
    });
    expect(errorsFor({ retention: { shrinkSuperseded: { regionalReplicaCount: 0 } } })).toEqual([
      expect.stringMatching(/^images\[0\]\.retention\.shrinkSuperseded\.regionalReplicaCount: Too small/),
    ]);
  });
});
