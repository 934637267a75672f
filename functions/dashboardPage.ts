import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { resolveFromAppRoot } from "./appRoot.js";
import {
  DashboardAssetsMissingError,
  dashboardAssetsIn,
  dashboardAssetsPath,
  dashboardSecurityHeaders,
  pagePathOf,
  renderDashboardPage,
} from "../shared/dashboard/page.js";

/**
 * HTTP GET /api/dashboard: the dashboard's page, a static shell with no data and no key in it (anonymous; its data
 * function needs the function key, which the page sends in a header).
 */
export async function dashboardPage(request: HttpRequest): Promise<HttpResponseInit> {
  try {
    const assets = dashboardAssetsIn(resolveFromAppRoot(dashboardAssetsPath));
    return {
      status: 200,
      headers: {
        ...dashboardSecurityHeaders,
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-cache",
      },
      body: renderDashboardPage(pagePathOf(request.url), assets),
    };
  } catch (error) {
    if (!(error instanceof DashboardAssetsMissingError)) throw error;
    return {
      status: 503,
      headers: { ...dashboardSecurityHeaders, "content-type": "text/plain; charset=utf-8" },
      body: `The dashboard is not available: ${error.message}.\n`,
    };
  }
}
