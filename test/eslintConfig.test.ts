import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";
import { importRules } from "../eslint.config.js";

type RuleName = keyof typeof importRules;

/**
 * One planted violation per dependency rule of the README's layout: a file that is not on disk (ESLint lints the
 * text as if it stood at that path), so nothing is left in the tree and parallel runs do not see it.
 */
const planted: ReadonlyArray<[rule: RuleName, path: string, code: string]> = [
  ["productionNeverImportsLocal", "functions/planted.ts", `import { startArmEmulator } from "../local/arm/index.js";`],
  ["productionNeverImportsLocal", "cli/commands/planted.ts", `export { startStack } from "../../local/stack.js";`],
  ["productionNeverImportsLocal", "shared/adapters/planted.ts", `await import("../../local/servicebus/index.js");`],
  ["sharedBelowEntryPoints", "shared/webhook/planted.ts", `import { functionTable } from "../../functions/table.js";`],
  ["domainNoAzureSdk", "shared/domain/planted.ts", `import type { GalleryImage } from "@azure/arm-compute";`],
  ["domainNoIo", "shared/domain/planted.ts", `import { readFileSync } from "node:fs";`],
  ["domainOnlyDomain", "shared/domain/planted.ts", `import type { GalleryPort } from "../ports.js";`],
  ["domainOnlyCatalogTypes", "shared/domain/planted.ts", `import { catalogSchema } from "../catalog/schema.js";`],
  [
    "useCasesNoAzureSdk",
    "shared/usecases/planted.ts",
    `const { DefaultAzureCredential } = await import("@azure/identity");`,
  ],
  [
    "onlyCompositionRootBuildsAdapters",
    "shared/usecases/planted.ts",
    `import { ArmGalleryClient } from "../adapters/gallery.js";`,
  ],
  [
    "onlyCompositionRootBuildsAdapters",
    "functions/planted.ts",
    `import { ArmClients } from "../shared/adapters/armClients.js";`,
  ],
  [
    "onlyCompositionRootBuildsAdapters",
    "shared/webhook/planted.ts",
    `const { ArmClients } = await import("../adapters/armClients.js");`,
  ],
  ["portsPipelineTypes", "shared/ports.ts", `import type { GalleryImageVersion } from "@azure/arm-compute";`],
  ["adaptersNoUseCases", "shared/adapters/planted.ts", `import { startBuild } from "../usecases/startBuild.js";`],
  ["functionsCallUseCases", "functions/planted.ts", `import { tagNames } from "../shared/domain/names.js";`],
  ["emulatorsNothingOfThePipeline", "local/arm/planted.ts", `import { tagNames } from "../../shared/domain/names.js";`],
  [
    "emulatorsNothingOfThePipeline",
    "local/servicebus/planted.ts",
    `import { startLocalHost } from "../host/index.js";`,
  ],
  ["emulatorsNothingOfThePipeline", "local/eventgrid/planted.ts", `import { localAzure } from "../settings.js";`],
  [
    "emulatorsNothingOfThePipeline",
    "local/otlp/planted.ts",
    `await import("../../shared/observability/telemetry.js");`,
  ],
];

/** Imports each layer is allowed: the rules must not fire on them. */
const allowed: ReadonlyArray<[path: string, code: string]> = [
  [
    "shared/domain/planted.ts",
    `import type { CatalogImage } from "../catalog/schema.js";\nimport { tagNames } from "./names.js";`,
  ],
  ["shared/domain/planted.ts", `import { createHash } from "node:crypto";\nimport { Cron } from "croner";`],
  [
    "shared/usecases/planted.ts",
    `import type { GalleryPort } from "../ports.js";\nimport { tagNames } from "../domain/names.js";`,
  ],
  [
    "shared/adapters/planted.ts",
    `import { ComputeManagementClient } from "@azure/arm-compute";\nimport type { GalleryPort } from "../ports.js";`,
  ],
  ["functions/planted.ts", `import { startBuild } from "../shared/usecases/startBuild.js";`],
  ["functions/composition.ts", `import { ArmClients } from "../shared/adapters/armClients.js";`],
  ["cli/commands/planted.ts", `import { createPipeline } from "../../functions/composition.js";`],
  ["local/arm/planted.ts", `import { armError } from "./errors.js";`],
  ["local/eventgrid/planted.ts", `import { loadOrCreateCertificate } from "../arm/cert.js";`],
  ["test/local/planted.test.ts", `import { startArmEmulator } from "../../local/arm/index.js";`],
];

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: new URL("..", import.meta.url).pathname });
});

async function importErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath: path });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === "no-restricted-imports" || m.ruleId === "no-restricted-syntax")
    .map((m) => {
      expect(m.severity).toBe(2);
      return m.message;
    });
}

describe("the lint's dependency rules", () => {
  it.each(planted)("%s: an error for %s", async (rule, path, code) => {
    const errors = await importErrors(path, code);
    expect(errors.some((message) => message.includes(importRules[rule].message))).toBe(true);
  });

  it("plant a violation of every rule", () => {
    expect(new Set(planted.map(([rule]) => rule))).toEqual(new Set(Object.keys(importRules)));
  });

  it.each(allowed)("leave %s alone when it imports what its layer may", async (path, code) => {
    expect(await importErrors(path, code)).toEqual([]);
  });
});
