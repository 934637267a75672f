import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** Where the built assets live, relative to the app's root (the repository locally, `dist/app` in the package). */
export const dashboardAssetsPath = "dist/dashboard";

/** A built asset, ready to serve. */
export interface DashboardAsset {
  name: string;
  contentType: string;
  body: Uint8Array;
  /** Strong ETag: a hash of the bytes. */
  etag: string;
  /** Short hash for the `?v=` of its URL, so that a new deployment is never served from a browser's cache. */
  version: string;
}

/** The assets the page loads; nothing else is ever served from the folder. */
const assetTypes: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

/** Thrown when the assets were not built (locally: `npm run build:dashboard`; `npm start` builds them). */
export class DashboardAssetsMissingError extends Error {
  constructor(readonly folder: string) {
    super(`the dashboard's assets are not built in ${folder}: run npm run build:dashboard`);
    this.name = "DashboardAssetsMissingError";
  }
}

/** Reads the built assets from a folder; throws {@link DashboardAssetsMissingError} when one is missing. */
export function loadDashboardAssets(folder: string): Map<string, DashboardAsset> {
  const assets = new Map<string, DashboardAsset>();
  for (const [name, contentType] of Object.entries(assetTypes)) {
    const file = path.join(folder, name);
    if (!existsSync(file)) throw new DashboardAssetsMissingError(folder);
    const body = readFileSync(file);
    const hash = createHash("sha256").update(body).digest("base64url");
    assets.set(name, { name, contentType, body, etag: `"${hash}"`, version: hash.slice(0, 12) });
  }
  return assets;
}

const loaded = new Map<string, Map<string, DashboardAsset>>();

/** {@link loadDashboardAssets}, once per folder for the life of the process (a deployment restarts it). */
export function dashboardAssetsIn(folder: string): Map<string, DashboardAsset> {
  let assets = loaded.get(folder);
  if (!assets) {
    assets = loadDashboardAssets(folder);
    loaded.set(folder, assets);
  }
  return assets;
}

/**
 * The page's Content-Security-Policy: scripts, styles, images and requests from the app itself only (no inline script
 * or style, no other origin), no plugin, no frame, no form target, no `<base>`; Trusted Types with no policy, so any
 * HTML sink (innerHTML, document.write) throws instead of parsing a string as markup.
 */
export const dashboardContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

/** Headers of every dashboard response: no Referer leaves the page (a key must never leak through one). */
export const dashboardSecurityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": dashboardContentSecurityPolicy,
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * The page: a static shell that loads the script and the stylesheet from `base` (the page's own path, e.g.
 * `/api/dashboard`). It carries no data and no key: the script asks for both.
 */
export function renderDashboardPage(base: string, assets: ReadonlyMap<string, DashboardAsset>): string {
  const url = (name: string) => `${base}/assets/${name}?v=${assets.get(name)?.version ?? ""}`;
  // `base` comes from the request path: keep only characters a route can hold, so it can never break out of an attribute.
  if (!/^[A-Za-z0-9/_.~-]*$/.test(base)) throw new Error(`unexpected page path ${JSON.stringify(base)}`);
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    "<title>Image pipeline</title>",
    `<link rel="icon" href="${url("icon.svg")}" type="image/svg+xml">`,
    `<link rel="stylesheet" href="${url("app.css")}">`,
    `<script type="module" src="${url("app.js")}"></script>`,
    "</head>",
    "<body>",
    "<noscript>The dashboard needs JavaScript.</noscript>",
    '<p class="status">Loading…</p>',
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** The page's own path without a trailing slash, from the request URL: assets and data are below it. */
export function pagePathOf(requestUrl: string): string {
  return new URL(requestUrl).pathname.replace(/\/+$/, "");
}
