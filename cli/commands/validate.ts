import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { formatCatalogError, parseCatalog } from "../../shared/catalog/load.js";
import { defaultPriceTable } from "../../shared/catalog/priceTable.js";
import { forecastCatalog } from "../../shared/domain/forecast.js";
import type { CliCommand } from "../command.js";
import { exitCodes } from "../command.js";

/** `validate [file]`: checks a catalog and prints every error with its path. */
export const command: CliCommand = {
  name: "validate",
  summary:
    "Check the image catalog and print every error with its path (default: $CATALOG_PATH or images.yaml), and warn when its steady state would exceed Azure's limits.",
  usage: "validate [file]",
  async run(args, io) {
    const options = args.filter((a) => a.startsWith("-"));
    const files = args.filter((a) => !a.startsWith("-"));
    if (options.length > 0 || files.length > 1) {
      io.stderr(`usage: image-pipeline ${this.usage}\n`);
      return exitCodes.usage;
    }
    const file = files[0] ?? io.env.CATALOG_PATH ?? "images.yaml";
    let text: string;
    try {
      text = readFileSync(resolve(io.cwd, file), "utf8");
    } catch (error) {
      io.stderr(`${file}: cannot read the catalog: ${(error as Error).message}\n`);
      return exitCodes.usage;
    }
    const result = parseCatalog(text, file);
    if (!result.ok) {
      for (const error of result.errors) {
        const where = error.line === undefined ? file : `${file}:${error.line}:${error.column ?? 1}`;
        io.stdout(`${where}: ${formatCatalogError({ path: error.path, message: error.message })}\n`);
      }
      io.stdout(`${file}: invalid, ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n`);
      return exitCodes.failed;
    }
    const names = result.catalog.images.map((i) => i.name);
    io.stdout(`${file}: valid, ${names.length} image${names.length === 1 ? "" : "s"} (${names.join(", ")})\n`);
    // A valid catalog can still grow past Azure's limits once its schedules and retention reach their steady state.
    const { warnings } = forecastCatalog(result.catalog.images, defaultPriceTable, io.env.AZURE_SUBSCRIPTION_ID);
    for (const w of warnings) io.stdout(`${file}: warning: ${w.message} (see image-pipeline forecast)\n`);
    return exitCodes.ok;
  },
};
