import { createPipeline } from "../../functions/composition.js";
import { CatalogEntryChangedError } from "../../shared/errors.js";
import { createLogger } from "../../shared/observability/logger.js";
import { requestBuild } from "../../shared/usecases/requestBuild.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

/** `build <image> [--commit sha] [--ref ref] [--force]`: queues a build, as the webhook would. */
export const command: CliCommand = {
  name: "build",
  summary: "request a build of a catalog image",
  usage: "build <image> [--commit <sha>] [--ref <ref>] [--force] [--catalog-hash <hash>]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, {
      commit: { type: "string" },
      ref: { type: "string" },
      force: { type: "boolean" },
      "catalog-hash": { type: "string" },
    });
    const image = args.positionals[0];
    if (!image) {
      io.error(`usage: image-pipeline ${this.usage}`);
      return 2;
    }
    const pipeline = createPipeline(cliSettings(rawIo.env));
    try {
      const force = args.flags.force === true;
      const catalogHash =
        typeof args.flags["catalog-hash"] === "string" ? args.flags["catalog-hash"].toLowerCase() : undefined;
      const log = createLogger({ info: () => {}, warn: io.error, error: io.error });
      const message = await requestBuild(await pipeline.deps(log, { image, catalogHash }), {
        image,
        commit: typeof args.flags.commit === "string" ? args.flags.commit.toLowerCase() : undefined,
        ref: typeof args.flags.ref === "string" ? args.flags.ref : undefined,
        reason: "manual",
        requestedBy: `cli:${process.env.USER ?? "unknown"}`,
        force,
        nonce: force ? `force:${crypto.randomUUID()}` : undefined,
        catalogHash,
      });
      io.out(JSON.stringify({ buildId: message.buildId, image: message.image, status: "queued" }, null, 2));
      return 0;
    } catch (error) {
      if (error instanceof CatalogEntryChangedError) {
        io.error(`${error.code}: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      await pipeline.close();
    }
  },
};
