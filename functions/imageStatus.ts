import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { findImage } from "../shared/catalog/load.js";
import type { PipelineProvider } from "./composition.js";
import { getImageStatus } from "../shared/usecases/status.js";
import { readFleet, viewFleetMaxAgeInMs } from "../shared/usecases/usage.js";
import { invocationLogger } from "./runtime.js";

/**
 * HTTP GET /api/images and /api/images/{name}: versions, `latest`, replication per region, builds in flight, and where
 * each version runs (one Resource Graph sweep for every image, shared by the calls of the same minute).
 */
export const imageStatus =
  (pipelineOf: PipelineProvider) =>
  async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const deps = await pipelineOf().deps(invocationLogger(context));
    const name = request.params.name;
    if (name) {
      const image = findImage(deps.catalog, name);
      if (!image)
        return {
          status: 404,
          jsonBody: { error: { code: "UnknownImage", message: `image '${name}' is not in the catalog` } },
        };
      const fleet = await readFleet(deps, { maxAgeInMs: viewFleetMaxAgeInMs });
      return { status: 200, jsonBody: await getImageStatus(deps, image, { withReplication: true, fleet }) };
    }
    const templates = await deps.imageBuilder.listTemplates(
      deps.settings.subscriptionId,
      deps.settings.imageBuilderResourceGroup,
    );
    const fleet = await readFleet(deps, { maxAgeInMs: viewFleetMaxAgeInMs });
    const images = [];
    for (const image of deps.catalog.images) {
      images.push(await getImageStatus(deps, image, { withReplication: false, templates, fleet }));
    }
    return { status: 200, jsonBody: { images } };
  };
