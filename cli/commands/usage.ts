import { createPipeline } from "../../functions/composition.js";
import { findImage } from "../../shared/catalog/load.js";
import { describeUsage } from "../../shared/domain/usage.js";
import { createLogger } from "../../shared/observability/logger.js";
import { imageUsageOf, readFleet } from "../../shared/usecases/usage.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { exitCodes } from "../command.js";
import { lines, parse } from "../args.js";

/** "2 instances", "1 VM"; nothing for 0. */
const count = (n: number, noun: string) => (n === 0 ? "" : `${n} ${noun}${n === 1 ? "" : "s"}`);

/** `usage <image> [--version x.y.z] [--json]`: where each version of an image runs, from one Resource Graph sweep. */
export const command: CliCommand = {
  name: "usage",
  summary: "where each version of an image runs: VMs, scale sets, instances, by subscription and resource group",
  usage: "usage <image> [--version <x.y.z>] [--json]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, { version: { type: "string" }, json: { type: "boolean" } });
    const name = args.positionals[0];
    if (!name) {
      io.error("usage: image-pipeline usage <image> [--version <x.y.z>] [--json]");
      return exitCodes.usage;
    }
    const pipeline = createPipeline(cliSettings(rawIo.env));
    try {
      const deps = await pipeline.deps(createLogger({ info: () => {}, warn: () => {}, error: io.error }));
      const image = findImage(deps.catalog, name);
      if (!image) {
        io.error(`image '${name}' is not in the catalog`);
        return exitCodes.failed;
      }
      const version = typeof args.flags["version"] === "string" ? args.flags["version"] : undefined;
      const usage = imageUsageOf(await readFleet(deps), image, deps, version);
      if (args.flags["json"] === true) {
        io.out(JSON.stringify(usage, null, 2));
        return usage.unavailable ? exitCodes.failed : exitCodes.ok;
      }
      if (usage.unavailable) {
        io.error(`${image.name}: where it runs is unknown: ${usage.unavailable}`);
        return exitCodes.failed;
      }
      io.out(`${image.name}  (read ${usage.readAt} across ${usage.subscriptions.join(", ")})`);
      if (usage.versions.length === 0) io.out(`  ${version ? `${version}: ` : ""}nothing runs it`);
      for (const v of usage.versions) {
        io.out(`  ${v.version.padEnd(16)} ${describeUsage(v)}`);
        for (const l of v.locations) {
          const parts = [
            count(l.virtualMachines, "VM"),
            count(l.scaleSets, "scale set"),
            count(l.instances, "instance"),
          ].filter(Boolean);
          io.out(`    ${l.subscriptionId}/${l.resourceGroup}: ${parts.join(", ")}`);
        }
      }
      return exitCodes.ok;
    } finally {
      await pipeline.close();
    }
  },
};
