import { catalogHash } from "../../shared/catalog/load.js";
import type { Catalog } from "../../shared/catalog/schema.js";
import type { CatalogSnapshot, CatalogReader } from "../../shared/ports.js";

/** A catalog source holding a catalog in memory; each read is recorded, and `publish` replaces the catalog. */
export class MemoryCatalogReader implements CatalogReader {
  reads: { revalidate: boolean }[] = [];
  private snapshot: CatalogSnapshot;
  private published: CatalogSnapshot;
  private version = 1;

  /** `visibleOnRevalidate`: a publish is seen only by a read that revalidates (as an instance inside its cache window). */
  constructor(
    catalog: Catalog,
    private readonly options: { visibleOnRevalidate?: boolean } = {},
  ) {
    this.snapshot = this.published = this.snapshotOf(catalog);
  }

  private snapshotOf(catalog: Catalog): CatalogSnapshot {
    return { catalog, etag: `"${this.version++}"`, hash: catalogHash(catalog) };
  }

  publish(catalog: Catalog): void {
    this.published = this.snapshotOf(catalog);
    if (!this.options.visibleOnRevalidate) this.snapshot = this.published;
  }

  async current(_log: unknown, options: { revalidate?: boolean } = {}): Promise<CatalogSnapshot> {
    this.reads.push({ revalidate: options.revalidate ?? false });
    if (options.revalidate) this.snapshot = this.published;
    return this.snapshot;
  }
}
