import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { CliIo } from "../../cli/command.js";
import { command as catalog } from "../../cli/commands/catalog.js";
import { startAzurite, type Azurite } from "../../local/azurite/index.js";
import { provisionCatalogContainer } from "../../local/provision.js";
import { BlobCatalogStore } from "../../shared/adapters/catalogBlob.js";
import { catalogEntryHash, parseCatalog } from "../../shared/catalog/load.js";
import { publishCatalog } from "../../shared/catalog/publish.js";
import { CatalogConflictError } from "../../shared/errors.js";
import { aCatalogImageInput } from "../factories.js";

/** `image-pipeline catalog publish | show` against Azurite, as the example workflow and `npm start` use them. */
describe("image-pipeline catalog", () => {
  let azurite: Azurite;
  let dir: string;
  let env: Record<string, string>;
  let blobUrl: string;
  let blobs = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cli-catalog-"));
    azurite = await startAzurite({ stateDir: join(dir, "azurite") });
    blobUrl = await provisionCatalogContainer(azurite);
  });
  afterAll(async () => {
    await azurite?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    // A blob of its own per test.
    env = {
      CATALOG_BLOB_URL: blobUrl.replace(/images\.yaml$/, `images-${++blobs}.yaml`),
      CATALOG_STORAGE_CONNECTION_STRING: azurite.connectionString,
    };
  });

  const store = () =>
    new BlobCatalogStore({
      blobUrl: env.CATALOG_BLOB_URL,
      connectionString: azurite.connectionString,
      maxAgeInSeconds: 0,
    });
  const entry = (name: string, i: number, vmSize = "Standard_D2s_v5") =>
    aCatalogImageInput({ name, definition: { sku: `sku-${i}` }, build: { vmSize } });
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  async function run(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, cwd: dir };
    const code = await catalog.run(args, io);
    return { code, stdout: out.join(""), stderr: err.join("") };
  }

  it("publishes a valid catalog and prints the hash of each entry it adds", async () => {
    const path = file("first.yaml", stringify({ images: [entry("ubuntu-2404", 0), entry("rocky-9", 1)] }));
    const parsed = parseCatalog(readFileSync(path, "utf8"));
    if (!parsed.ok) throw new Error("fixture");
    const [ubuntu, rocky] = parsed.catalog.images.map(catalogEntryHash);

    const published = await run(["publish", path]);

    expect(published.code).toBe(0);
    expect(published.stdout).toMatch(new RegExp(`ubuntu-2404\\s+added\\s+${ubuntu}`));
    expect(published.stdout).toMatch(new RegExp(`rocky-9\\s+added\\s+${rocky}`));
    expect((await store().read())?.text).toBe(readFileSync(path, "utf8"));
    const shown = await run(["show", "--json"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      catalogBlobUrl: env.CATALOG_BLOB_URL,
      etag: (await store().read())!.etag,
      images: [
        { image: "ubuntu-2404", catalogHash: ubuntu },
        { image: "rocky-9", catalogHash: rocky },
      ],
    });
  });

  it("lists as JSON only the entries whose hash changed, and those removed", async () => {
    await run(["publish", file("a.yaml", stringify({ images: [entry("ubuntu-2404", 0), entry("rocky-9", 1)] }))]);
    const next = stringify({ images: [entry("ubuntu-2404", 0, "Standard_D4s_v5"), entry("debian-12", 2)] });
    const parsed = parseCatalog(next);
    if (!parsed.ok) throw new Error("fixture");

    const published = await run(["publish", file("b.yaml", next), "--json"]);

    expect(published.code).toBe(0);
    const report = JSON.parse(published.stdout);
    expect(report).toMatchObject({ published: true, etag: (await store().read())!.etag });
    expect(report.changed).toEqual([
      expect.objectContaining({
        image: "ubuntu-2404",
        change: "changed",
        catalogHash: catalogEntryHash(parsed.catalog.images[0]!),
      }),
      expect.objectContaining({
        image: "debian-12",
        change: "added",
        catalogHash: catalogEntryHash(parsed.catalog.images[1]!),
      }),
    ]);
    expect(report.removed).toEqual([expect.objectContaining({ image: "rocky-9", change: "removed" })]);
  });

  it("writes nothing when the text is already the published one", async () => {
    const path = file("same.yaml", stringify({ images: [entry("ubuntu-2404", 0)] }));
    await run(["publish", path]);
    const before = (await store().read())!.etag;

    const again = await run(["publish", path, "--json"]);

    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ published: false, etag: before, changed: [], removed: [] });
    expect((await store().read())!.etag).toBe(before);
  });

  it("refuses an invalid catalog with every error and its path, leaving the published one untouched", async () => {
    await run(["publish", file("good.yaml", stringify({ images: [entry("ubuntu-2404", 0)] }))]);
    const before = (await store().read())!;

    const refused = await run(["publish", join(process.cwd(), "test/fixtures/catalog/broken.yaml")]);

    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/broken\.yaml:\d+:\d+: images\[0\]\.gallery\.name: /);
    expect(refused.stderr).toMatch(/images\[0\]\.customize\[0\]/);
    expect(refused.stderr).toMatch(/invalid, \d+ errors: not published\n$/);
    expect(await store().read()).toEqual(before);
  });

  it("refuses to overwrite a catalog someone else published after it was read", async () => {
    const writer = store();
    await writer.write(stringify({ images: [entry("ubuntu-2404", 0)] }), { ifNoneMatch: "*" });
    const racing = {
      read: async () => {
        const read = await writer.read();
        // Another publish lands between this one's read and its write.
        await writer.write(stringify({ images: [entry("rocky-9", 1)] }), { ifMatch: read!.etag });
        return read;
      },
      write: writer.write.bind(writer),
    };

    await expect(
      publishCatalog(racing, stringify({ images: [entry("debian-12", 2)] }), "mine.yaml"),
    ).rejects.toBeInstanceOf(CatalogConflictError);
    expect((await writer.read())!.text).toBe(stringify({ images: [entry("rocky-9", 1)] }));
  });

  it("says where to find the blob URL when none is configured", async () => {
    env = {};
    await expect(run(["show"])).rejects.toThrow(/CATALOG_BLOB_URL: missing/);
  });

  it("says when nothing is published yet", async () => {
    const shown = await run(["show"]);
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain("no catalog is published at");
  });
});
