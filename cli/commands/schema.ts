import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { catalogJsonSchema, catalogJsonSchemaPath } from "../../shared/catalog/jsonSchema.js";
import { eventsJsonSchema, eventsJsonSchemaPath } from "../../shared/events/schema.js";
import type { CliCommand } from "../command.js";
import { exitCodes } from "../command.js";

/** The JSON Schemas the repository commits: the catalog's (for editors) and the events' (for consumers). */
const schemas = [
  { path: catalogJsonSchemaPath, schema: catalogJsonSchema },
  { path: eventsJsonSchemaPath, schema: eventsJsonSchema },
];

/** `schema [--events] [--write]`: prints the catalog's (or the events') JSON Schema, or regenerates the committed files. */
export const command: CliCommand = {
  name: "schema",
  summary: `Print the catalog's JSON Schema (--events: the events'); --write regenerates ${schemas.map((s) => s.path).join(" and ")}.`,
  usage: "schema [--events] [--write]",
  async run(args, io) {
    if (args.some((a) => a !== "--write" && a !== "--events")) {
      io.stderr(`usage: image-pipeline ${this.usage}\n`);
      return exitCodes.usage;
    }
    if (!args.includes("--write")) {
      const { schema } = schemas[args.includes("--events") ? 1 : 0]!;
      io.stdout(`${JSON.stringify(schema(), null, 2)}\n`);
      return exitCodes.ok;
    }
    // Formatted as the repository's prettier would, so `prettier --check` passes on the generated files.
    const prettier = await import("prettier");
    for (const { path, schema } of schemas) {
      const target = resolve(io.cwd, path);
      const config = (await prettier.resolveConfig(target)) ?? {};
      writeFileSync(target, await prettier.format(JSON.stringify(schema(), null, 2), { ...config, filepath: target }));
      io.stdout(`wrote ${path}\n`);
    }
    return exitCodes.ok;
  },
};
