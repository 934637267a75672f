import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type * as z from "zod";
import { findImage } from "../shared/catalog/load.js";
import type { CatalogImage } from "../shared/catalog/schema.js";
import { NotFoundError, OperationNotAllowedError } from "../shared/errors.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import type { PipelineProvider } from "./composition.js";
import { describeIssues, invocationLogger } from "./runtime.js";

const errorResponse = (status: number, code: string, message: string, target?: string): HttpResponseInit => ({
  status,
  jsonBody: { error: { code, message, ...(target ? { target } : {}) } },
});

/**
 * Who asks, for the records: the App Service authentication principal when one fronts the app, else the key's
 * holder (the admin key names no one).
 */
function callerOf(request: HttpRequest): string {
  return request.headers.get("x-ms-client-principal-name") ?? "api:admin-key";
}

/**
 * An operator's HTTP call on one image: the body parsed with its schema (400 naming the field), the image looked up
 * in the catalog (404), the use-case run, and its refusals mapped (404 for what does not exist, 409 for what Azure's
 * state does not allow). Anything else is thrown: the host answers 500 and logs it.
 */
export function operatorHandler<S extends z.ZodType, R>(
  schema: S,
  run: (deps: PipelineDeps, image: CatalogImage, body: z.infer<S>, by: string) => Promise<R>,
) {
  return (pipelineOf: PipelineProvider) =>
    async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
      let json: unknown;
      try {
        json = await request.json();
      } catch {
        return errorResponse(400, "InvalidJson", "the body is not JSON");
      }
      const body = schema.safeParse(json);
      if (!body.success) {
        const target = body.error.issues[0]?.path.join(".") || undefined;
        return errorResponse(400, "InvalidRequest", describeIssues(body.error), target);
      }
      const deps = await pipelineOf().deps(invocationLogger(context));
      const name = request.params.name ?? "";
      const image = findImage(deps.catalog, name);
      if (!image) return errorResponse(404, "UnknownImage", `image '${name}' is not in the catalog`, "name");
      try {
        return { status: 200, jsonBody: await run(deps, image, body.data, callerOf(request)) };
      } catch (error) {
        if (error instanceof NotFoundError) return errorResponse(404, error.code, error.message);
        if (error instanceof OperationNotAllowedError) return errorResponse(409, error.code, error.message);
        throw error;
      }
    };
}
