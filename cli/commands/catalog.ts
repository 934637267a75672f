import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BlobCatalogStore } from "../../shared/adapters/catalogBlob.js";
import { catalogEntryHash, catalogHash, formatCatalogError, parseCatalog } from "../../shared/catalog/load.js";
import { publishCatalog } from "../../shared/catalog/publish.js";
import { CatalogConflictError } from "../../shared/errors.js";
import { cliCatalogSettings } from "../settings.js";
import { exitCodes, type CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

function storeOf(io: { env: Record<string, string | undefined>; cwd: string }): BlobCatalogStore {
  const settings = cliCatalogSettings(io.env, io.cwd);
  return new BlobCatalogStore({
    blobUrl: settings.CATALOG_BLOB_URL,
    connectionString: settings.CATALOG_STORAGE_CONNECTION_STRING,
    clientId: settings.AZURE_CLIENT_ID,
    maxAgeInSeconds: 0,
  });
}

/**
 * `catalog publish [file] [--json]`: validates the catalog and makes it the one the app uses; `catalog show [--json]`:
 * what is published, its ETag and hashes.
 */
export const command: CliCommand = {
  name: "catalog",
  summary: "publish the image catalog to the app's store (validated first), or show what is published",
  usage: "catalog publish [file] [--json]\n       image-pipeline catalog show [--json]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, { json: { type: "boolean" } });
    const [verb, file, ...rest] = args.positionals;
    const json = args.flags.json === true;
    if (rest.length > 0 || (verb === "show" && file !== undefined) || (verb !== "publish" && verb !== "show")) {
      io.error(`usage: image-pipeline ${this.usage}`);
      return exitCodes.usage;
    }
    if (verb === "show") return show(storeOf(rawIo), io, json);

    const path = file ?? rawIo.env.CATALOG_PATH ?? "images.yaml";
    let text: string;
    try {
      text = readFileSync(resolve(rawIo.cwd, path), "utf8");
    } catch (error) {
      io.error(`${path}: cannot read the catalog: ${(error as Error).message}`);
      return exitCodes.usage;
    }
    // Validated before anything is asked of the store: an invalid catalog never leaves this machine.
    if (!parseCatalog(text, path).ok) return reportInvalid(text, path, io);
    const store = storeOf(rawIo);
    try {
      const outcome = await publishCatalog(store, text, path);
      if (outcome.kind === "invalid") return reportInvalid(text, path, io);
      const changes = outcome.kind === "published" ? outcome.changes : [];
      if (json) {
        io.out(
          JSON.stringify(
            {
              catalogBlobUrl: store.url,
              published: outcome.kind === "published",
              etag: outcome.etag,
              catalogHash: outcome.catalogHash,
              changed: changes.filter((c) => c.change !== "removed"),
              removed: changes.filter((c) => c.change === "removed"),
            },
            null,
            2,
          ),
        );
        return exitCodes.ok;
      }
      if (outcome.kind === "unchanged") {
        io.out(`${path}: already published at ${store.url} (etag ${outcome.etag}); nothing to do`);
        return exitCodes.ok;
      }
      io.out(`${path}: published to ${store.url} (etag ${outcome.etag}, catalog ${outcome.catalogHash})`);
      if (changes.length === 0) io.out("no entry changed");
      for (const c of changes) {
        io.out(`  ${c.image.padEnd(24)} ${c.change.padEnd(8)} ${c.catalogHash ?? ""}`.trimEnd());
      }
      return exitCodes.ok;
    } catch (error) {
      if (error instanceof CatalogConflictError) {
        io.error(`${error.code}: ${error.message}`);
        return exitCodes.failed;
      }
      throw error;
    }
  },
};

function reportInvalid(text: string, path: string, io: ReturnType<typeof lines>): number {
  const result = parseCatalog(text, path);
  const errors = result.ok ? [] : result.errors;
  for (const error of errors) {
    const where = error.line === undefined ? path : `${path}:${error.line}:${error.column ?? 1}`;
    io.error(`${where}: ${formatCatalogError({ path: error.path, message: error.message })}`);
  }
  io.error(`${path}: invalid, ${errors.length} error${errors.length === 1 ? "" : "s"}: not published`);
  return exitCodes.failed;
}

async function show(store: BlobCatalogStore, io: ReturnType<typeof lines>, json: boolean): Promise<number> {
  const published = await store.read();
  if (!published) {
    io.error(`no catalog is published at ${store.url}: publish one with image-pipeline catalog publish`);
    return exitCodes.failed;
  }
  const parsed = parseCatalog(published.text, store.url);
  if (!parsed.ok) {
    for (const error of parsed.errors) io.error(`${store.url}: ${formatCatalogError(error)}`);
    io.error(`${store.url} (etag ${published.etag}): does not validate; the app keeps the catalog it had`);
    return exitCodes.failed;
  }
  const images = parsed.catalog.images.map((i) => ({ image: i.name, catalogHash: catalogEntryHash(i) }));
  const summary = {
    catalogBlobUrl: store.url,
    etag: published.etag,
    lastModified: published.lastModified?.toISOString(),
    catalogHash: catalogHash(parsed.catalog),
    images,
  };
  if (json) {
    io.out(JSON.stringify(summary, null, 2));
    return exitCodes.ok;
  }
  io.out(`${summary.catalogBlobUrl}`);
  io.out(`  etag ${summary.etag}, last modified ${summary.lastModified ?? "-"}, catalog ${summary.catalogHash}`);
  for (const i of images) io.out(`  ${i.image.padEnd(24)} ${i.catalogHash}`);
  return exitCodes.ok;
}
