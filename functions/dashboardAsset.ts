import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { resolveFromAppRoot } from "./appRoot.js";
import {
  DashboardAssetsMissingError,
  dashboardAssetsIn,
  dashboardAssetsPath,
  dashboardSecurityHeaders,
} from "../shared/dashboard/page.js";
import { etagMatches } from "../shared/dashboard/data.js";

/**
 * HTTP GET /api/dashboard/assets/{name}: the page's script, stylesheet and icon, bundled with the app (no CDN).
 * Only the names the page loads are served. A URL carrying the asset's version is cached for a year; it changes
 * with every build of the asset.
 */
export async function dashboardAsset(request: HttpRequest): Promise<HttpResponseInit> {
  let assets: ReturnType<typeof dashboardAssetsIn>;
  try {
    assets = dashboardAssetsIn(resolveFromAppRoot(dashboardAssetsPath));
  } catch (error) {
    if (!(error instanceof DashboardAssetsMissingError)) throw error;
    return { status: 503, headers: { ...dashboardSecurityHeaders } };
  }
  const asset = assets.get(request.params.name ?? "");
  if (!asset) return { status: 404, headers: { ...dashboardSecurityHeaders } };
  const headers = {
    ...dashboardSecurityHeaders,
    etag: asset.etag,
    "cache-control":
      request.query.get("v") === asset.version ? "public, max-age=31536000, immutable" : "public, no-cache",
  };
  if (etagMatches(request.headers.get("if-none-match"), asset.etag)) return { status: 304, headers };
  return { status: 200, headers: { ...headers, "content-type": asset.contentType }, body: asset.body };
}
