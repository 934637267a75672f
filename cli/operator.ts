import { createPipeline } from "../functions/composition.js";
import { findImage } from "../shared/catalog/load.js";
import type { CatalogImage } from "../shared/catalog/schema.js";
import { NotFoundError, OperationNotAllowedError } from "../shared/errors.js";
import { createLogger } from "../shared/observability/logger.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import type { LatestResolution } from "../shared/usecases/operatorControls.js";
import type { CliIo } from "./command.js";
import { lines } from "./args.js";
import { cliSettings } from "./settings.js";

/** Who runs an operator command, for the records on the version or definition and in the events. */
export function cliCaller(io: CliIo): string {
  return `cli:${io.env.USER ?? io.env.USERNAME ?? "unknown"}`;
}

/**
 * Runs an operator command on one catalog image with the pipeline's clients (the caller's own Azure sign-in, or the
 * local stack's settings): an unknown image, and the use-case's refusals, are reported on stderr with exit code 1.
 */
export async function onImage(
  io: CliIo,
  imageName: string,
  run: (deps: PipelineDeps, image: CatalogImage) => Promise<void>,
): Promise<number> {
  const out = lines(io);
  const pipeline = createPipeline(cliSettings(io.env));
  try {
    const deps = await pipeline.deps(createLogger({ info: () => {}, warn: () => {}, error: out.error }));
    const image = findImage(deps.catalog, imageName);
    if (!image) {
      out.error(`UnknownImage: image '${imageName}' is not in the catalog`);
      return 1;
    }
    await run(deps, image);
    return 0;
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof OperationNotAllowedError) {
      out.error(`${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await pipeline.close();
  }
}

/** `latest` as checked after a command: globally, then per region. */
export function printLatest(io: CliIo, image: string, after: LatestResolution): void {
  const out = lines(io);
  out.out(`${image}: latest is now ${after.latest ?? "(none)"}`);
  for (const [region, version] of Object.entries(after.byRegion)) {
    out.out(`  ${region.padEnd(20)} ${version ?? "(none)"}`);
  }
}
