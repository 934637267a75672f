/**
 * `npm run bundle`: the deployment package of the function app, `dist/app/` (entry `dist/app/index.js`), with every
 * package bundled so that it needs no node_modules. ESM, node20, code splitting: the ARM SDKs, imported lazily on the
 * first ARM call, stay in chunks of their own that the webhook never loads.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";

/** Where the bundle goes. */
export const bundleDir = path.resolve("dist/app");
const entry = path.resolve("functions/index.ts");
const serviceBusExtension = "@azure/functions-extensions-servicebus";
const extensionsBase = "@azure/functions-extensions-base";

/**
 * functions/index.ts imports the Service Bus extension by a name held in a variable (its package points TypeScript at
 * uncompiled sources), which esbuild cannot follow. Rewrite that one import to a literal so that the extension is
 * bundled like any package; fail the build if the code no longer has that shape rather than ship without it.
 */
const serviceBusExtensionImport = (omit: boolean): Plugin => ({
  name: "service-bus-extension-import",
  setup(b) {
    b.onLoad({ filter: /[\\/]functions[\\/]index\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const call = "await import(serviceBusExtension)";
      if (!source.includes(`const serviceBusExtension = "${serviceBusExtension}"`) || !source.includes(call)) {
        throw new Error(`${args.path}: the import of ${serviceBusExtension} changed shape; update bench/bundle.ts`);
      }
      const replacement = omit ? "undefined" : `await import("${serviceBusExtension}")`;
      return { contents: source.replace(call, replacement), loader: "ts" };
    });
  },
});

/**
 * @azure/functions resolves @azure/functions-extensions-base 0.3.0 while the Service Bus extension carries its own
 * 0.2.0: two registries, so the extension's message factory would be registered where @azure/functions never looks.
 * In the bundle both resolve to the copy @azure/functions uses (the two versions have the same registry code).
 */
const oneExtensionsBase: Plugin = {
  name: "one-functions-extensions-base",
  setup(b) {
    const fromFunctions = createRequire(createRequire(entry).resolve("@azure/functions"));
    const resolved = fromFunctions.resolve(extensionsBase);
    b.onResolve({ filter: /^@azure\/functions-extensions-base$/ }, () => ({ path: resolved }));
  },
};

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

/** Variants of the bundle for the cold start benchmark's attribution; the deployment package takes the defaults. */
export interface BundleOptions {
  outdir?: string;
  /** Leave the Service Bus extension out (not deployable: queue triggers need it), to measure what it costs. */
  omitServiceBusExtension?: boolean;
}

/** Builds dist/app and returns esbuild's metafile (which inputs went into which chunk). */
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
    plugins: [serviceBusExtensionImport(options.omitServiceBusExtension === true), oneExtensionsBase],
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const proto = createRequire(entry).resolve(`${serviceBusExtension}/package.json`);
  mkdirSync(path.join(outdir, "proto"), { recursive: true });
  copyFileSync(
    path.join(path.dirname(proto), "dist/proto/settlement.proto"),
    path.join(outdir, "proto/settlement.proto"),
  );
  return result.metafile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const metafile = await bundleApp();
  const outputs = Object.entries(metafile.outputs).filter(([file]) => file.endsWith(".js"));
  const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
  console.log(`${path.relative(process.cwd(), bundleDir)}: ${outputs.length} files, ${bytes} bytes of JavaScript`);
}
