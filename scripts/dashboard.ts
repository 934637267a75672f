/**
 * `npm run build:dashboard`: the dashboard's browser assets, `dist/dashboard/` (app.js, app.css, icon.svg), from
 * `dashboard/`. esbuild bundles the TypeScript into one ES module and the CSS into one file, minified, for the
 * browsers the page supports. `npm start`, `npm run build` (into the deployment package) and the tests call it.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { dashboardAssetsPath } from "../shared/dashboard/page.js";

const root = path.resolve(import.meta.dirname, "..");

/** Builds the assets into `outdir` (default `dist/dashboard` of the repository) and returns that folder. */
export async function buildDashboardAssets(outdir: string = path.join(root, dashboardAssetsPath)): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  const common = { bundle: true, minify: true, logLevel: "warning", legalComments: "none" } as const;
  await Promise.all([
    build({
      ...common,
      entryPoints: [path.join(root, "dashboard/src/main.ts")],
      outfile: path.join(outdir, "app.js"),
      format: "esm",
      platform: "browser",
      target: ["es2022", "chrome120", "firefox120", "safari17"],
    }),
    build({
      ...common,
      entryPoints: [path.join(root, "dashboard/src/style.css")],
      outfile: path.join(outdir, "app.css"),
      target: ["chrome120", "firefox120", "safari17"],
    }),
  ]);
  copyFileSync(path.join(root, "dashboard/icon.svg"), path.join(outdir, "icon.svg"));
  return outdir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`dashboard assets: ${path.relative(process.cwd(), await buildDashboardAssets())}`);
}
