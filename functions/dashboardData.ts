import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { PipelineProvider } from "./composition.js";
import { dashboardCacheOf, dashboardDataResponse } from "../shared/dashboard/data.js";
import { getDashboard } from "../shared/usecases/dashboard.js";
import { invocationLogger } from "./runtime.js";

/**
 * HTTP GET /api/dashboard/data: the dashboard's read model (function key, like GET /api/images). One read of Azure
 * is shared by every viewer for DASHBOARD_REFRESH_IN_SECONDS; an unchanged model answers 304 to If-None-Match.
 */
export const dashboardData =
  (pipelineOf: PipelineProvider) =>
  async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const pipeline = pipelineOf();
    const refreshAfterInSeconds = pipeline.settings.DASHBOARD_REFRESH_IN_SECONDS;
    const snapshot = await dashboardCacheOf(pipeline, refreshAfterInSeconds * 1000).get(async () =>
      getDashboard(await pipeline.deps(invocationLogger(context)), { refreshAfterInSeconds }),
    );
    return dashboardDataResponse(snapshot, {
      ifNoneMatch: request.headers.get("if-none-match"),
      acceptEncoding: request.headers.get("accept-encoding"),
    });
  };
