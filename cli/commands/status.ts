import { createPipeline } from "../../functions/composition.js";
import { createLogger } from "../../shared/observability/logger.js";
import { getBuildStatus, getImageStatus } from "../../shared/usecases/status.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

/** `status [buildId]`: one build"s stage, or every image"s versions and builds in flight. */
export const command: CliCommand = {
  name: "status",
  summary: "show a build, or every image's versions and builds in flight",
  usage: "status [buildId]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, {});
    const pipeline = createPipeline(cliSettings(rawIo.env));
    try {
      const deps = await pipeline.deps(createLogger({ info: () => {}, warn: io.error, error: io.error }));
      const buildId = args.positionals[0];
      if (buildId) {
        const status = await getBuildStatus(deps, buildId);
        if (!status) {
          io.error(`no trace of build ${buildId} in Azure yet: it may still be queued`);
          return 1;
        }
        io.out(JSON.stringify(status, null, 2));
        return 0;
      }
      for (const image of deps.catalog.images) {
        const s = await getImageStatus(deps, image, { withReplication: false });
        io.out(`${s.image}  (${s.gallery}/${s.definition})  latest: ${s.latest ?? "-"}`);
        const byRegion = Object.entries(s.latestByRegion).map(([region, version]) => `${region} ${version ?? "-"}`);
        if (byRegion.length > 0) io.out(`  latest per region: ${byRegion.join(", ")}`);
        for (const r of s.rollouts) {
          const next = r.nextWaveAt
            ? `; wave ${r.wave + 1} (${r.nextRegions?.join(", ")}) moves at ${r.nextWaveAt}`
            : "";
          io.out(
            `  rollout ${r.version}: ${r.state}, wave ${r.wave}/${r.waves ?? "?"}${next}${r.note ? `: ${r.note}` : ""}`,
          );
        }
        for (const v of s.versions) {
          io.out(
            `  ${v.name.padEnd(16)} ${v.state.padEnd(12)} eol ${v.endOfLifeDate?.slice(0, 10) ?? "-"}  ${v.targetRegions.join(", ")}`,
          );
        }
        for (const b of s.buildsInFlight)
          io.out(`  building ${b.version ?? "?"} (${b.buildId}): ${b.runState} ${b.runSubState ?? ""}`);
        for (const f of s.recentFailures) {
          io.out(`  failed ${f.at} ${f.buildId}: ${f.reason}`);
          if (f.logUri) io.out(`    customization log: ${f.logUri}`);
        }
      }
      return 0;
    } finally {
      await pipeline.close();
    }
  },
};
