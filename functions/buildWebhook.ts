import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { PipelineProvider } from "./composition.js";
import { webhookSecrets } from "../shared/config/settings.js";
import { CatalogEntryChangedError, CatalogUnavailableError, UnknownImageError } from "../shared/errors.js";
import { spanAttributes } from "../shared/observability/tracing.js";
import { requestBuild } from "../shared/usecases/requestBuild.js";
import { parseWebhook } from "../shared/webhook/parse.js";
import { invocationLogger } from "./runtime.js";

/** Reads at most `limit` bytes of the body; more means 413 without buffering an attacker's gigabytes. */
async function readBody(request: HttpRequest, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) return undefined;
  const body = new Uint8Array(await request.arrayBuffer());
  return body.byteLength > limit ? undefined : body;
}

const errorResponse = (status: number, code: string, message: string, target?: string): HttpResponseInit => ({
  status,
  jsonBody: { error: { code, message, ...(target ? { target } : {}) } },
});

/** HTTP POST /api/builds: a CI system (generic JSON or GitHub delivery) asks for a build. */
export const buildWebhook =
  (pipelineOf: PipelineProvider) => async (request: HttpRequest, context: InvocationContext) =>
    handleWebhook(pipelineOf, request, context);

async function handleWebhook(
  pipelineOf: PipelineProvider,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const pipeline = pipelineOf();
  const { settings } = pipeline;
  const log = invocationLogger(context);
  const webhook = webhookSecrets(settings);
  if ("unusable" in webhook) {
    log.error("webhook disabled: its secret setting is unusable", { reason: webhook.unusable });
    return errorResponse(503, "WebhookSecretUnavailable", `the webhook is disabled: ${webhook.unusable}`);
  }
  const body = await readBody(request, settings.WEBHOOK_MAX_BODY_IN_BYTES);
  if (!body)
    return errorResponse(413, "PayloadTooLarge", `the body exceeds ${settings.WEBHOOK_MAX_BODY_IN_BYTES} bytes`);
  const outcome = parseWebhook({
    headers: request.headers,
    query: request.query,
    body,
    secrets: webhook.secrets,
    maxBodyInBytes: settings.WEBHOOK_MAX_BODY_IN_BYTES,
  });
  if (outcome.kind === "error") {
    log.warn("webhook refused", {
      status: outcome.error.status,
      code: outcome.error.code,
      target: outcome.error.target,
    });
    return errorResponse(outcome.error.status, outcome.error.code, outcome.error.message, outcome.error.target);
  }
  if (outcome.kind === "ignored") return { status: 200, jsonBody: { ignored: outcome.reason } };
  try {
    const { image, catalogHash } = outcome.request;
    const deps = await pipeline.deps(log, { image, catalogHash });
    const message = await requestBuild(deps, {
      ...outcome.request,
      traceparent: context.traceContext?.traceParent ?? undefined,
    });
    // The webhook's span is the root of the build's trace: it names the build.
    deps.tracer.annotate({ [spanAttributes.buildId]: message.buildId, [spanAttributes.image]: message.image });
    const statusUrl = new URL(`/api/builds/${message.buildId}`, request.url).toString();
    return {
      status: 202,
      headers: { location: statusUrl },
      jsonBody: { buildId: message.buildId, image: message.image, commit: message.commit, status: "queued", statusUrl },
    };
  } catch (error) {
    if (error instanceof UnknownImageError) {
      return errorResponse(404, "UnknownImage", error.message, "image");
    }
    if (error instanceof CatalogEntryChangedError) {
      const { imageName, requestedCatalogHash, publishedCatalogHash } = error;
      log.warn("webhook refused", { status: 409, code: error.code, requestedCatalogHash, publishedCatalogHash });
      return {
        status: 409,
        jsonBody: {
          error: { code: error.code, message: error.message, target: "catalogHash" },
          image: imageName,
          requestedCatalogHash,
          publishedCatalogHash,
        },
      };
    }
    if (error instanceof CatalogUnavailableError) {
      log.error("no catalog to serve the request", { error: error.message });
      return { ...errorResponse(503, error.code, error.message), headers: { "retry-after": "60" } };
    }
    throw error;
  }
}
