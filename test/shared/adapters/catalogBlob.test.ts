import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startAzurite, type Azurite } from "../../../local/azurite/index.js";
import { BlobCatalogStore } from "../../../shared/adapters/catalogBlob.js";
import { catalogHash, parseCatalog } from "../../../shared/catalog/load.js";
import { CatalogConflictError, CatalogUnavailableError, ConfigurationError } from "../../../shared/errors.js";
import { aCatalogImageInput } from "../../factories.js";
import { MemoryLogger } from "../../fakes/azure.js";
import { startHttpRecorder } from "../../fakes/httpRecorder.js";

const catalogText = (...names: string[]) =>
  stringify({ images: names.map((name, i) => aCatalogImageInput({ name, definition: { sku: `sku-${i}` } })) });

/** The catalog blob adapter on the real SDK against Azurite, seen on the wire through a recording proxy. */
describe("the catalog blob (BlobCatalogStore on Azurite)", () => {
  let azurite: Azurite;
  let recorder: Awaited<ReturnType<typeof startHttpRecorder>>;
  let dir: string;
  let blobCount = 0;
  let blobUrl: string;
  let now: number;
  let log: MemoryLogger;
  const maxAgeInSeconds = 30;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "catalog-blob-"));
    azurite = await startAzurite({ stateDir: dir });
    recorder = await startHttpRecorder(new URL(azurite.blobEndpoint).origin);
    const { BlobServiceClient } = await import("@azure/storage-blob");
    await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("catalog").create();
  });
  afterAll(async () => {
    await recorder?.stop();
    await azurite?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    // A blob of its own per test, reached through the recorder.
    blobUrl = `${recorder.origin}/devstoreaccount1/catalog/images-${++blobCount}.yaml`;
    recorder.exchanges.length = 0;
    now = 1_000_000;
    log = new MemoryLogger();
  });
  const store = () =>
    new BlobCatalogStore({
      blobUrl,
      connectionString: azurite.connectionString,
      maxAgeInSeconds,
      now: () => now,
    });
  const requestsToBlob = () => recorder.exchanges.filter((e) => e.path.includes(`/images-${blobCount}.yaml`));

  it("reads the published catalog once, and not again within the cache window", async () => {
    const writer = store();
    await writer.write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const reader = store();
    recorder.exchanges.length = 0;

    const first = await reader.current(log);
    now += (maxAgeInSeconds - 1) * 1000;
    const second = await reader.current(log);

    expect(first.catalog.images.map((i) => i.name)).toEqual(["ubuntu-2404"]);
    expect(first.hash).toBe(catalogHash(first.catalog));
    expect(second).toBe(first);
    expect(requestsToBlob().map((e) => [e.method, e.status])).toEqual([["GET", 200]]);
  });

  it("revalidates after the window with a conditional GET, and a 304 keeps the parsed catalog", async () => {
    await store().write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const reader = store();
    const first = await reader.current(log);
    recorder.exchanges.length = 0;

    now += maxAgeInSeconds * 1000;
    const again = await reader.current(log);

    expect(again).toBe(first);
    expect(requestsToBlob()).toEqual([
      expect.objectContaining({
        method: "GET",
        status: 304,
        headers: expect.objectContaining({ "if-none-match": first.etag }),
      }),
    ]);
  });

  it("uses a changed catalog from the first read after the window", async () => {
    const writer = store();
    const { etag } = await writer.write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const reader = store();
    await reader.current(log);
    await writer.write(catalogText("ubuntu-2404", "rocky-9"), { ifMatch: etag });

    const stale = await reader.current(log);
    now += maxAgeInSeconds * 1000;
    const fresh = await reader.current(log);

    expect(stale.catalog.images.map((i) => i.name)).toEqual(["ubuntu-2404"]);
    expect(fresh.catalog.images.map((i) => i.name)).toEqual(["ubuntu-2404", "rocky-9"]);
    expect(fresh.etag).not.toBe(stale.etag);
  });

  it("asks at once, within the window, when told to revalidate", async () => {
    const writer = store();
    const { etag } = await writer.write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const reader = store();
    await reader.current(log);
    await writer.write(catalogText("rocky-9"), { ifMatch: etag });

    const fresh = await reader.current(log, { revalidate: true });

    expect(fresh.catalog.images.map((i) => i.name)).toEqual(["rocky-9"]);
  });

  it("never uses a published catalog that does not validate: keeps the one in use and logs every error with its path", async () => {
    const writer = store();
    const { etag } = await writer.write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const reader = store();
    const inUse = await reader.current(log);
    const broken = catalogText("ubuntu-2404").replace("westeurope", "Mars Central");
    const { etag: brokenEtag } = await writer.write(broken, { ifMatch: etag });
    expect(parseCatalog(broken).ok).toBe(false);

    now += maxAgeInSeconds * 1000;
    const kept = await reader.current(log);
    recorder.exchanges.length = 0;
    now += maxAgeInSeconds * 1000;
    const stillKept = await reader.current(log);

    expect(kept).toBe(inUse);
    expect(stillKept).toBe(inUse);
    const rejections = log.lines.filter((l) => l.level === "error");
    expect(rejections).toEqual([
      {
        level: "error",
        message: "the published catalog does not validate: it is not used, the catalog in use is kept",
        fields: expect.objectContaining({
          etag: brokenEtag,
          inUseEtag: inUse.etag,
          errors: expect.arrayContaining([expect.stringMatching(/^images\[0\]\.build\.location: /)]),
        }),
      },
    ]);
    // The rejected text is not downloaded again until it changes.
    expect(requestsToBlob().map((e) => e.status)).toEqual([304]);
  });

  it("fails with CatalogUnavailable, naming the blob and what to do, when nothing is published", async () => {
    const error = await store()
      .current(log)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CatalogUnavailableError);
    expect((error as Error).message).toContain(blobUrl);
    expect((error as Error).message).toContain("image-pipeline catalog publish");
  });

  it("fails with CatalogUnavailable when the first catalog it reads does not validate", async () => {
    await store().write("images: [{ name: 42 }]\n", { ifNoneMatch: "*" });

    await expect(store().current(log)).rejects.toThrow(CatalogUnavailableError);
  });

  it("writes only over the version it read: a concurrent publish is refused", async () => {
    const first = store();
    const second = store();
    await first.write(catalogText("ubuntu-2404"), { ifNoneMatch: "*" });
    const read = (await second.read())!;
    await first.write(catalogText("rocky-9"), { ifMatch: read.etag });

    await expect(second.write(catalogText("debian-12"), { ifMatch: read.etag })).rejects.toThrow(CatalogConflictError);
    await expect(second.write(catalogText("debian-12"), { ifNoneMatch: "*" })).rejects.toThrow(CatalogConflictError);
    expect((await second.read())!.text).toBe(catalogText("rocky-9"));
  });

  it("reads nothing (undefined) where nothing was published", async () => {
    expect(await store().read()).toBeUndefined();
  });

  it("sends an account key only to a loopback URL", async () => {
    const remote = new BlobCatalogStore({
      blobUrl: "https://stimages.blob.core.windows.net/catalog/images.yaml",
      connectionString: azurite.connectionString,
      maxAgeInSeconds,
    });

    await expect(remote.read()).rejects.toThrow(ConfigurationError);
    await expect(remote.current(log)).rejects.toThrow(/only for a storage emulator/);
  });
});
