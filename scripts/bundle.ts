/**
 * `npm run build`: the deployment package of the function app, `dist/app/`, the folder `azd deploy` zips (azure.yaml
 * `dist`). Every package is bundled (esbuild, ESM, node20, code splitting), so the folder needs no node_modules:
 *
 * - `index.js` and its chunks. Only what registration needs loads at start; the ARM SDKs (first ARM call), the
 *   Storage SDK (first catalog read), the Service Bus SDK (first message sent) and the Service Bus extension (first
 *   queue message) stay in chunks of their own that load on first use.
 * - `proto/settlement.proto`, which the Service Bus extension reads next to itself.
 * - `dist/dashboard/`: the dashboard's page assets (scripts/dashboard.ts), where the app finds them below its root.
 * - `host.json`, and a `package.json` whose `main` is `index.js`, where the Functions worker looks for the entry.
 *
 * No catalog: the app reads it from its blob (CATALOG_BLOB_URL), where `image-pipeline catalog publish` puts it after
 * validating it, so a catalog change needs no deployment and a deployment never carries a stale catalog.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";
import { dashboardAssetsPath } from "../shared/dashboard/page.js";
import { buildDashboardAssets } from "./dashboard.js";

/** Where the deployment package goes. */
export const bundleDir = path.resolve("dist/app");
const root = path.resolve(".");
const entry = path.join(root, "functions/index.ts");
const serviceBusExtension = "@azure/functions-extensions-servicebus";
const extensionsBase = "@azure/functions-extensions-base";

/**
 * functions/serviceBusBinding.ts imports the Service Bus extension by a name held in a variable (its package points
 * TypeScript at uncompiled sources), which esbuild cannot follow. Rewrite that one import to a literal so that the
 * extension is bundled, in a chunk of its own; fail the build if the code no longer has that shape rather than ship
 * without it.
 */
const serviceBusExtensionImport: Plugin = {
  name: "service-bus-extension-import",
  setup(b) {
    b.onLoad({ filter: /[\\/]functions[\\/]serviceBusBinding\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const call = "await import(serviceBusExtension)";
      if (!source.includes(`const serviceBusExtension = "${serviceBusExtension}"`) || !source.includes(call)) {
        throw new Error(`${args.path}: the import of ${serviceBusExtension} changed shape; update scripts/bundle.ts`);
      }
      return { contents: source.replace(call, `await import("${serviceBusExtension}")`), loader: "ts" };
    });
  },
};

/**
 * One registry of binding factories, the CommonJS build that @azure/functions requires. functions/extensionsBase.ts
 * requires it through `createRequire` (an ESM import would load the package's ESM build): in the bundle, where there
 * is no node_modules to require from, that module becomes a plain re-export of the bundled copy.
 */
const oneExtensionsBase: Plugin = {
  name: "one-functions-extensions-base",
  setup(b) {
    const fromFunctions = createRequire(createRequire(entry).resolve("@azure/functions"));
    const resolved = fromFunctions.resolve(extensionsBase);
    b.onResolve({ filter: /^@azure\/functions-extensions-base$/ }, () => ({ path: resolved }));
    b.onLoad({ filter: /[\\/]functions[\\/]extensionsBase\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (
        !source.includes(`require("${extensionsBase}")`) ||
        !/export const \{ ResourceFactoryResolver \}/.test(source)
      ) {
        throw new Error(`${args.path} changed shape; update scripts/bundle.ts`);
      }
      return { contents: `export { ResourceFactoryResolver } from "${extensionsBase}";`, loader: "ts" };
    });
  },
};

/**
 * The app imports some packages lazily, with import(). A package whose "main" is CommonJS becomes a chunk that only has
 * a default export, so `const { ServiceBusClient } = await import("@azure/service-bus")` finds nothing in the bundle
 * (Node and tsx give the named exports). Such packages are bundled from their ESM build (package.json "module").
 */
const esmBuildOfLazyPackages = (packages: readonly string[]): Plugin => ({
  name: "esm-build-of-lazy-packages",
  setup(b) {
    const filter = new RegExp(`^(${packages.map((p) => p.replace(/[/@-]/g, "\\$&")).join("|")})$`);
    b.onResolve({ filter }, (args) => {
      const manifest = createRequire(entry).resolve(`${args.path}/package.json`);
      const { module } = JSON.parse(readFileSync(manifest, "utf8")) as { module?: string };
      if (!module) throw new Error(`${args.path} has no ESM build ("module"); update scripts/bundle.ts`);
      return { path: path.join(path.dirname(manifest), module) };
    });
  },
});

// CommonJS packages inside an ESM bundle still call require() and read __dirname (the Service Bus extension loads
// proto/settlement.proto next to itself); every chunk gets them. Chunks stay in the bundle's root folder so that
// __dirname is dist/app for all of them.
const banner = [
  `import { createRequire as __bundleCreateRequire } from "node:module";`,
  `import { fileURLToPath as __bundleFileURLToPath } from "node:url";`,
  `import { dirname as __bundleDirname } from "node:path";`,
  `const require = __bundleCreateRequire(import.meta.url);`,
  `const __filename = __bundleFileURLToPath(import.meta.url);`,
  `const __dirname = __bundleDirname(__filename);`,
].join("\n");

/** Where the package is written. */
export interface BundleOptions {
  /** Default dist/app. */
  outdir?: string;
}

/** Builds the deployment package and returns esbuild's metafile (which inputs went into which chunk). */
export async function bundleApp(options: BundleOptions = {}): Promise<Metafile> {
  const outdir = options.outdir ?? bundleDir;

  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { index: entry },
    outdir,
    bundle: true,
    packages: "bundle",
    format: "esm",
    platform: "node",
    target: "node20",
    splitting: true,
    chunkNames: "[name]-[hash]",
    // The Functions worker provides this module at run time; @azure/functions falls back to test mode without it.
    external: ["@azure/functions-core"],
    banner: { js: banner },
    plugins: [serviceBusExtensionImport, oneExtensionsBase, esmBuildOfLazyPackages(["@azure/service-bus"])],
    metafile: true,
    legalComments: "linked",
    // Less for V8 to scan at start. Identifiers are kept, so stack traces still name functions; the linked source
    // maps give TypeScript positions where the worker runs with --enable-source-maps.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: "linked",
    sourcesContent: false,
    logLevel: "warning",
  });

  const extension = path.dirname(createRequire(entry).resolve(`${serviceBusExtension}/package.json`));
  mkdirSync(path.join(outdir, "proto"), { recursive: true });
  copyFileSync(path.join(extension, "dist/proto/settlement.proto"), path.join(outdir, "proto/settlement.proto"));
  await buildDashboardAssets(path.join(outdir, dashboardAssetsPath));
  copyFileSync(path.join(root, "host.json"), path.join(outdir, "host.json"));
  const { name, version, engines } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    name: string;
    version: string;
    engines: Record<string, string>;
  };
  const manifest = { name, version, private: true, type: "module", main: "index.js", engines };
  writeFileSync(path.join(outdir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return result.metafile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const metafile = await bundleApp();
  const outputs = Object.entries(metafile.outputs).filter(([file]) => file.endsWith(".js"));
  const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
  console.log(`${path.relative(process.cwd(), bundleDir)}: ${outputs.length} JavaScript files, ${bytes} bytes`);
}
