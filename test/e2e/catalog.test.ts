import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CliIo } from "../../cli/command.js";
import { command as catalogCommand } from "../../cli/commands/catalog.js";
import { configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { BlobCatalogStore } from "../../shared/adapters/catalogBlob.js";
import { catalogEntryHash } from "../../shared/catalog/load.js";
import type { Catalog } from "../../shared/catalog/schema.js";
import { createPipeline } from "../../functions/composition.js";
import { tagNames } from "../../shared/domain/names.js";
import { aCatalogImage } from "../factories.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

const image = "ubuntu-2404";
const entryWith = (vmSize: string) =>
  aCatalogImage({ name: image, gallery: { resourceGroup: "rg-golden-images", name: "acg_golden" }, build: { vmSize } });
const catalogWith = (vmSize: string): Catalog => ({ images: [entryWith(vmSize)] });
const commit = (n: number) => n.toString(16).padStart(40, "0");

/** The catalog hash tag of the version a build published, read from the gallery. */
async function builtCatalogHash(stack: Stack, buildId: string): Promise<string | undefined> {
  await eventually(`build ${buildId} to publish its version`, async () => {
    const { status, body } = await api(stack, `/builds/${buildId}`);
    return status === 200 && ["replicating", "promoted"].includes(body.stage);
  });
  const compute = new ComputeManagementClient(
    { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3.6e6 }) },
    localAzure.subscriptionId,
    { endpoint: stack.arm.endpoint, tlsOptions: { ca: stack.arm.caCertPem } },
  );
  const entry = stack.catalog.images[0]!;
  for await (const version of compute.galleryImageVersions.listByGalleryImage(
    entry.gallery.resourceGroup,
    entry.gallery.name,
    entry.definition.name,
  )) {
    if (version.tags?.[tagNames.buildId] === buildId) return version.tags[tagNames.catalogHash];
  }
  return undefined;
}

async function requestBuild(stack: Stack, body: Record<string, unknown>) {
  return api(stack, "/builds", { method: "POST", body: JSON.stringify({ image, reason: "push", ...body }) });
}

/** The catalog as data on the local stack: published to Azurite, read by the running host through the Storage SDK. */
describe("the catalog on the local stack", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startTestStack({ catalog: catalogWith("Standard_D2s_v5") });
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  beforeEach(async () => {
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
  });

  it("uses a newly published entry for the next build, without restarting the host", async () => {
    const before = await requestBuild(stack, { commit: commit(1) });
    expect(before.status).toBe(202);
    expect(await builtCatalogHash(stack, before.body.buildId)).toBe(catalogEntryHash(entryWith("Standard_D2s_v5")));
    const host = stack.host;

    await stack.publishCatalog(catalogWith("Standard_D4s_v5"));
    const after = await requestBuild(stack, { commit: commit(2) });

    expect(after.status).toBe(202);
    expect(await builtCatalogHash(stack, after.body.buildId)).toBe(catalogEntryHash(entryWith("Standard_D4s_v5")));
    expect(stack.host).toBe(host);
  });

  it("answers a request that names a catalog hash other than the published one with 409, both hashes and what to do", async () => {
    await stack.publishCatalog(catalogWith("Standard_D8s_v5"));
    const stale = catalogEntryHash(entryWith("Standard_D4s_v5"));
    const published = catalogEntryHash(entryWith("Standard_D8s_v5"));

    const refused = await requestBuild(stack, { commit: commit(3), catalogHash: stale });
    const accepted = await requestBuild(stack, { commit: commit(3), catalogHash: published });

    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      error: {
        code: "CatalogEntryChanged",
        target: "catalogHash",
        message: expect.stringContaining("image-pipeline catalog publish"),
      },
      image,
      requestedCatalogHash: stale,
      publishedCatalogHash: published,
    });
    expect(accepted.status).toBe(202);
    expect(await builtCatalogHash(stack, accepted.body.buildId)).toBe(published);
  });

  it("refuses to publish an invalid catalog, and never uses one written past the check: the running catalog is kept", async () => {
    const running = stack.catalog;
    const store = new BlobCatalogStore({
      blobUrl: stack.settings.CATALOG_BLOB_URL,
      connectionString: stack.settings.CATALOG_STORAGE_CONNECTION_STRING,
      maxAgeInSeconds: 0,
    });
    const published = (await store.read())!;
    const dir = mkdtempSync(join(tmpdir(), "catalog-e2e-"));
    try {
      const broken = join(dir, "images.yaml");
      writeFileSync(broken, published.text.replace(/vmSize: \S+/, "vmSize: 42"));
      const err: string[] = [];
      const io: CliIo = { stdout: () => {}, stderr: (t) => err.push(t), env: stack.env, cwd: dir };
      expect(await catalogCommand.run(["publish", broken], io)).toBe(1);
      expect(err.join("")).toMatch(/images\[0\]\.build\.vmSize: /);
      expect((await store.read())!.etag).toBe(published.etag);

      // Written by hand, past `catalog publish`: the host reads it, rejects it and keeps what it had.
      await store.write(published.text.replace(/vmSize: \S+/, "vmSize: 42"), { ifMatch: published.etag });
      stack.logs.length = 0;
      const build = await requestBuild(stack, { commit: commit(4) });

      expect(build.status).toBe(202);
      expect(await builtCatalogHash(stack, build.body.buildId)).toBe(catalogEntryHash(running.images[0]!));
      const rejection = stack.logs.find((r) => r.message.includes("the published catalog does not validate"));
      expect(rejection?.message).toContain("the catalog in use is kept");
      expect(rejection?.message).toMatch(/images\[0\]\.build\.vmSize: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers 503 CatalogUnavailable, queuing nothing, on an instance that has read no catalog yet", async () => {
    const before = stack.serviceBus.stats("build-requests");
    // An instance started against a blob where nothing was published yet.
    const unpublished = stack.settings.CATALOG_BLOB_URL!.replace(/images\.yaml$/, "nothing-here.yaml");
    const cold = createPipeline({ ...stack.settings, CATALOG_BLOB_URL: unpublished });
    stack.replacePipeline(cold);
    try {
      const refused = await requestBuild(stack, { commit: commit(5) });

      expect(refused.status).toBe(503);
      expect(refused.body.error).toEqual({
        code: "CatalogUnavailable",
        message: expect.stringContaining(`no catalog is published at ${unpublished}`),
      });
      expect(stack.serviceBus.stats("build-requests")).toEqual(before);
    } finally {
      stack.replacePipeline(undefined);
      await cold.close();
    }
  });

  it("on an instance inside its cache window, builds the entry a request names right after its publish", async () => {
    // Azure's window is 30 s: longer than between the example workflow's publish and its build requests. This instance
    // keeps what it read for an hour; a request that names the new entry's hash makes it read the catalog again first.
    await stack.publishCatalog(catalogWith("Standard_D2s_v5"));
    const cached = createPipeline({ ...stack.settings, CATALOG_MAX_AGE_IN_SECONDS: 3600 });
    stack.replacePipeline(cached);
    try {
      const warm = await requestBuild(stack, { commit: commit(11) });
      expect(await builtCatalogHash(stack, warm.body.buildId)).toBe(catalogEntryHash(entryWith("Standard_D2s_v5")));
      await stack.publishCatalog(catalogWith("Standard_D4s_v5"));
      const fresh = catalogEntryHash(entryWith("Standard_D4s_v5"));

      // A request naming the new entry's hash is served the new entry although the instance's copy is fresh for an
      // hour. (One naming no hash may get either, depending on when its instance last read the catalog.)
      const named = await requestBuild(stack, { commit: commit(13), catalogHash: fresh });
      expect(named.status).toBe(202);
      expect(await builtCatalogHash(stack, named.body.buildId)).toBe(fresh);
    } finally {
      stack.replacePipeline(undefined);
      await cached.close();
    }
  });
});
