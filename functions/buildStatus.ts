import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { PipelineProvider } from "./composition.js";
import { buildIdSchema } from "../shared/messages/common.js";
import { getBuildStatus } from "../shared/usecases/status.js";
import { invocationLogger } from "./runtime.js";

/** HTTP GET /api/builds/{id}: a build's stage, read from Azure (template, version tags, recorded failures). */
export const buildStatus =
  (pipelineOf: PipelineProvider) =>
  async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const id = buildIdSchema.safeParse(request.params.id);
    if (!id.success) {
      return {
        status: 400,
        jsonBody: { error: { code: "InvalidRequest", message: "id: not a build id", target: "id" } },
      };
    }
    const status = await getBuildStatus(await pipelineOf().deps(invocationLogger(context)), id.data);
    if (!status) {
      return {
        status: 404,
        jsonBody: {
          error: {
            code: "BuildNotFound",
            message: `no trace of build ${id.data} in Azure yet: it may still be queued`,
          },
        },
      };
    }
    return { status: 200, jsonBody: status };
  };
