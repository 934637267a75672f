import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { formatCatalogError, parseCatalog } from "../../shared/catalog/load.js";
import { priceTableFileSchema, priceTableOf, type PriceTable } from "../../shared/catalog/priceTable.js";
import { forecastCatalog, type CatalogForecast, type ForecastRegion } from "../../shared/domain/forecast.js";
import { exitCodes, type CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

const number = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const money = (n: number, currency: string) => `${number(n, 2)} ${currency}`;
const regionsText = (regions: readonly ForecastRegion[]) =>
  regions.map((r) => `${r.region} ${r.replicas}×${r.storageAccountType}`).join(", ");

/** Reads a price file (JSON or YAML); the error names the file and the field. */
function readPrices(path: string, cwd: string): PriceTable {
  const text = readFileSync(resolve(cwd, path), "utf8");
  const parsed = priceTableFileSchema.safeParse(parseYaml(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: ${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  return priceTableOf(parsed.data);
}

function print(out: (line: string) => void, forecast: CatalogForecast): void {
  const { currency } = forecast;
  for (const f of forecast.images) {
    out(`${f.image} (${f.subscriptionId}/${f.region}, ${f.resourceGroup}/${f.gallery}/${f.definition})`);
    out(
      f.scheduled
        ? `  versions: ${number(f.versions)} (${f.buildsCapped ? "over " : ""}${number(f.buildsKept)} scheduled builds kept ${f.keptForDays} days)`
        : `  versions: ${number(f.versions)} (no schedule: keepLatest only, on-demand builds not counted)`,
    );
    out(`  full: ${number(f.fullVersions)} × [${regionsText(f.fullRegions)}]`);
    if (f.shrunkVersions > 0) out(`  shrunk: ${number(f.shrunkVersions)} × [${regionsText(f.shrunkRegions)}]`);
    out(`  size: ${number(f.sizeInGB, 1)} GB per replica (${f.sizeFrom})`);
    out(`  storage: ${number(f.replicaGBMonths, 2)} replica-GB-months, ${money(f.monthlyCost, currency)} a month`);
  }
  for (const r of forecast.regions) {
    out(
      `${r.subscriptionId}/${r.region}: ${number(r.galleries)} galleries, ${number(r.definitions)} image definitions, ${number(r.versions)} image versions`,
    );
  }
  const t = forecast.totals;
  out(
    `total: ${number(t.versions)} versions, ${number(t.replicaGBMonths, 2)} replica-GB-months, ${money(t.monthlyCost, currency)} a month`,
  );
  for (const w of forecast.warnings) out(`warning: ${w.message}`);
}

/** `forecast [file] [--image <name>] [--prices <file>] [--json]`: the catalog's steady state, offline. */
export const command: CliCommand = {
  name: "forecast",
  summary: "steady-state versions per definition, gallery and subscription/region vs Azure's limits, and storage cost",
  usage: "forecast [file] [--image <name>] [--prices <file>] [--json]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    let args: ReturnType<typeof parse>;
    try {
      args = parse(argv, { image: { type: "string" }, prices: { type: "string" }, json: { type: "boolean" } });
    } catch (error) {
      io.error(`${(error as Error).message}\nusage: image-pipeline ${this.usage}`);
      return exitCodes.usage;
    }
    if (args.positionals.length > 1) {
      io.error(`usage: image-pipeline ${this.usage}`);
      return exitCodes.usage;
    }
    const file = args.positionals[0] ?? rawIo.env.CATALOG_PATH ?? "images.yaml";
    let text: string;
    try {
      text = readFileSync(resolve(rawIo.cwd, file), "utf8");
    } catch (error) {
      io.error(`${file}: cannot read the catalog: ${(error as Error).message}`);
      return exitCodes.usage;
    }
    const result = parseCatalog(text, file);
    if (!result.ok) {
      for (const e of result.errors) io.error(`${file}: ${formatCatalogError({ path: e.path, message: e.message })}`);
      return exitCodes.failed;
    }
    let prices: PriceTable | undefined;
    try {
      prices = args.flags.prices === undefined ? undefined : readPrices(String(args.flags.prices), rawIo.cwd);
    } catch (error) {
      io.error(`cannot use the price file: ${(error as Error).message}`);
      return exitCodes.usage;
    }
    const name = args.flags.image as string | undefined;
    const images = name === undefined ? result.catalog.images : result.catalog.images.filter((i) => i.name === name);
    if (images.length === 0) {
      io.error(`${file} has no image named ${name}`);
      return exitCodes.usage;
    }
    const forecast = forecastCatalog(images, prices ?? priceTableOf(undefined), rawIo.env.AZURE_SUBSCRIPTION_ID);
    if (args.flags.json === true) rawIo.stdout(`${JSON.stringify(forecast, null, 2)}\n`);
    else print(io.out, forecast);
    return exitCodes.ok;
  },
};
