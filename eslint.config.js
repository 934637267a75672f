// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
  {
    // Production code must not reach into the local stack, and the emulators must not know the pipeline.
    files: ["functions/**/*.ts", "shared/**/*.ts", "cli/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/local/**"], message: "production code never imports local/" }] },
      ],
    },
  },
  {
    files: ["local/arm/**/*.ts", "local/servicebus/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/shared/**", "**/functions/**"],
              message: "emulators stand in for Azure and must not know the pipeline",
            },
          ],
        },
      ],
    },
  },
);
