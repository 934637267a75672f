import { createPipeline } from "../../functions/composition.js";
import { createLogger } from "../../shared/observability/logger.js";
import { runRetention } from "../../shared/usecases/retentionRun.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

/**
 * `prune [--dry-run]`: applies (or only shows) every image's retention plan and replica shrink policy, with a reason per
 * version.
 */
export const command: CliCommand = {
  name: "prune",
  summary: "apply the retention plans and replica shrink policies (--dry-run shows them only)",
  usage: "prune [--dry-run]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, { "dry-run": { type: "boolean" } });
    const pipeline = createPipeline(cliSettings(rawIo.env));
    try {
      const dryRun = args.flags["dry-run"] === true;
      const deps = await pipeline.deps(createLogger({ info: () => {}, warn: io.error, error: io.error }));
      const { prune, shrink } = await runRetention(deps, { dryRun });
      const { images, failedImages, usageUnavailable } = prune;
      if (usageUnavailable)
        io.out(`nothing is deleted this run: where the images run is unknown (${usageUnavailable})`);
      for (const r of images) {
        io.out(`${r.image}${r.dryRun ? " (dry run)" : ""}`);
        for (const d of r.deleted) io.out(`  ${r.dryRun ? "would delete" : "deleted"} ${d.version}: ${d.reason}`);
        for (const k of r.kept) io.out(`  keep ${k.version}: ${k.reason}`);
        for (const d of r.deferred) io.out(`  next run: ${d.version}: ${d.reason}`);
        for (const e of r.errors) io.out(`  could not delete ${e.version}: ${e.error}`);
        for (const v of r.inUsePastEndOfLife) {
          io.out(`  in use past end of life (${v.endOfLifeDate.slice(0, 10)}): ${v.version}: ${v.usage}`);
        }
      }
      for (const f of failedImages) io.out(`${f.image}: could not be read: ${f.error}`);
      for (const r of shrink.images) {
        io.out(`${r.image} replicas${r.dryRun ? " (dry run)" : ""}`);
        for (const s of r.shrunk) io.out(`  ${r.dryRun ? "would shrink" : "shrinking"} ${s.version}: ${s.reason}`);
        for (const k of r.kept) io.out(`  keep ${k.version}: ${k.reason}`);
        for (const d of r.deferred) io.out(`  next run: ${d.version}: ${d.reason}`);
        for (const e of r.errors) io.out(`  could not shrink ${e.version}: ${e.error}`);
      }
      if (shrink.usageUnavailable) io.out(`replicas: nothing shrinks this run (${shrink.usageUnavailable})`);
      for (const f of shrink.failedImages) io.out(`${f.image}: could not be read: ${f.error}`);
      const failed = [...images, ...shrink.images].some((r) => r.errors.length > 0);
      return failedImages.length > 0 || shrink.failedImages.length > 0 || failed ? 1 : 0;
    } finally {
      await pipeline.close();
    }
  },
};
