// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The dependency rules of the README's source layout ("How it works"), as import patterns. Each is a regular
 * expression over the import specifier and the message a developer sees; test/eslintConfig.test.ts plants a
 * violation of each and proves it is an error.
 *
 * @typedef {{ regex: string, message: string, allowTypeImports?: boolean }} ImportRule
 */

/** Relative imports that climb to one of `folders` (folder names are unique in this tree). */
const upTo = (/** @type {string} */ folders) => `^(\\.\\./)+(${folders})(/|$)`;

/** @satisfies {Record<string, ImportRule>} */
export const importRules = {
  productionNeverImportsLocal: {
    regex: upTo("local"),
    message: "production code never imports local/ (the local stack stands in for Azure)",
  },
  sharedBelowEntryPoints: {
    regex: upTo("functions|cli|bin"),
    message: "dependencies point one way: shared/ never imports functions/ or cli/",
  },
  domainNoAzureSdk: {
    regex: "^@azure/",
    message: "shared/domain is pure: no Azure SDK, not even its types",
  },
  domainNoIo: {
    regex: "^(node:)?(fs|fs/promises|net|http|https|http2|child_process|dgram|dns|tls|worker_threads|cluster)$",
    message: "shared/domain is pure: no I/O",
  },
  domainOnlyDomain: {
    regex: "^\\.\\./(?!catalog/)",
    message: "shared/domain imports only the domain (and the catalog's types)",
  },
  domainOnlyCatalogTypes: {
    regex: "^\\.\\./catalog/",
    allowTypeImports: true,
    message: "shared/domain takes only the catalog's types (import type), not its code",
  },
  useCasesNoAzureSdk: {
    regex: "^@azure/",
    message: "use-cases speak the pipeline's own types through ports: no Azure SDK",
  },
  portsPipelineTypes: {
    regex: "^@azure/",
    message: "ports speak the pipeline's own types: no Azure SDK, not even its types",
  },
  onlyCompositionRootBuildsAdapters: {
    regex: "^(\\.\\./)+(shared/)?adapters/",
    message:
      "only the composition root (functions/composition.ts) builds adapters; use-cases take ports (shared/ports.ts)",
  },
  adaptersNoUseCases: {
    regex: upTo("usecases"),
    message: "adapters implement ports; they never call use-cases",
  },
  functionsCallUseCases: {
    regex: "^\\.\\./shared/domain/",
    message: "functions/ call use-cases; the domain is reached through them",
  },
  emulatorsNothingOfThePipeline: {
    // Out of local/, or to the local stack's own files: only another emulator's code (the certificate) is shared.
    regex: "^(\\.\\./){2,}|^\\.\\./(?!(arm|servicebus|eventgrid|otlp)/)",
    message:
      "an emulator stands in for Azure: it imports nothing of the pipeline (its folder, other emulators, packages)",
  },
};

/**
 * One config object per area with every rule that applies there (a later object replaces, not extends, a rule's
 * options for the files it matches, so each area lists the whole set). Dynamic `import()` is checked too.
 */
/** @returns {import("eslint").Linter.Config} */
function restrictImports(/** @type {string[]} */ files, /** @type {ImportRule[]} */ rules) {
  return {
    files,
    rules: {
      "no-restricted-imports": ["error", { patterns: rules }],
      "no-restricted-syntax": [
        "error",
        ...rules
          .filter((r) => !r.allowTypeImports)
          .map((r) => ({
            selector: `ImportExpression[source.value=/${r.regex.replaceAll("/", "\\/")}/]`,
            message: r.message,
          })),
      ],
    },
  };
}

const r = importRules;
const production = [r.productionNeverImportsLocal];
const shared = [...production, r.sharedBelowEntryPoints];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".local/**", "bench/results/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  restrictImports(["cli/**", "bin/**"], production),
  restrictImports(["functions/**"], [...production, r.functionsCallUseCases, r.onlyCompositionRootBuildsAdapters]),
  restrictImports(["functions/composition.ts"], [...production, r.functionsCallUseCases]),
  restrictImports(["shared/**"], [...shared, r.onlyCompositionRootBuildsAdapters]),
  restrictImports(["shared/ports.ts"], [...shared, r.onlyCompositionRootBuildsAdapters, r.portsPipelineTypes]),
  restrictImports(
    ["shared/domain/**"],
    [...shared, r.domainNoAzureSdk, r.domainNoIo, r.domainOnlyDomain, r.domainOnlyCatalogTypes],
  ),
  restrictImports(["shared/usecases/**"], [...shared, r.useCasesNoAzureSdk, r.onlyCompositionRootBuildsAdapters]),
  restrictImports(["shared/adapters/**"], [...shared, r.adaptersNoUseCases]),
  restrictImports(
    ["local/arm/**", "local/servicebus/**", "local/eventgrid/**", "local/otlp/**"],
    [r.emulatorsNothingOfThePipeline],
  ),
);
