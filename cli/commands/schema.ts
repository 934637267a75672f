import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { catalogJsonSchema, catalogJsonSchemaPath } from "../../shared/catalog/jsonSchema.js";
import type { CliCommand } from "../command.js";
import { exitCodes } from "../command.js";

/** `schema [--write]`: prints the catalog's JSON Schema, or regenerates the committed file (`npm run schema`). */
export const command: CliCommand = {
  name: "schema",
  summary: `Print the catalog's JSON Schema; --write regenerates ${catalogJsonSchemaPath}.`,
  usage: "schema [--write]",
  async run(args, io) {
    if (args.some((a) => a !== "--write")) {
      io.stderr(`usage: image-pipeline ${this.usage}\n`);
      return exitCodes.usage;
    }
    const json = JSON.stringify(catalogJsonSchema(), null, 2);
    if (!args.includes("--write")) {
      io.stdout(`${json}\n`);
      return exitCodes.ok;
    }
    const target = resolve(io.cwd, catalogJsonSchemaPath);
    // Formatted as the repository's prettier would, so `prettier --check` passes on the generated file.
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(target)) ?? {};
    writeFileSync(target, await prettier.format(json, { ...config, filepath: target }));
    io.stdout(`wrote ${catalogJsonSchemaPath}\n`);
    return exitCodes.ok;
  },
};
