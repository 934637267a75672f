import type { CatalogStore } from "../ports.js";
import { catalogEntryHash, catalogHash, parseCatalog, type CatalogError } from "./load.js";
import type { Catalog } from "./schema.js";

/** One catalog entry that a publish adds, changes or removes. */
export interface CatalogEntryChange {
  image: string;
  change: "added" | "changed" | "removed";
  /** The entry's hash as published now (absent for a removed entry): what a build request may name. */
  catalogHash?: string;
  /** Its hash before, when it existed and the previous catalog was valid. */
  previousCatalogHash?: string;
}

/** What `publishCatalog` did. */
export type PublishOutcome =
  | { kind: "invalid"; errors: CatalogError[] }
  | { kind: "unchanged"; etag: string; catalogHash: string }
  | {
      kind: "published";
      etag: string;
      previousEtag?: string;
      catalogHash: string;
      /** Entries whose hash changed, in the new catalog's order, then removed entries. */
      changes: CatalogEntryChange[];
    };

function entryHashes(catalog: Catalog | undefined): Map<string, { name: string; hash: string }> {
  return new Map(
    (catalog?.images ?? []).map((i) => [i.name.toLowerCase(), { name: i.name, hash: catalogEntryHash(i) }]),
  );
}

/** What differs between two catalogs, entry by entry (names compared as Azure does, without case). */
export function catalogChanges(previous: Catalog | undefined, next: Catalog): CatalogEntryChange[] {
  const before = entryHashes(previous);
  const after = entryHashes(next);
  const changes: CatalogEntryChange[] = [];
  for (const [key, { name, hash }] of after) {
    const old = before.get(key);
    if (!old) changes.push({ image: name, change: "added", catalogHash: hash });
    else if (old.hash !== hash)
      changes.push({ image: name, change: "changed", catalogHash: hash, previousCatalogHash: old.hash });
  }
  for (const [key, { name, hash }] of before) {
    if (!after.has(key)) changes.push({ image: name, change: "removed", previousCatalogHash: hash });
  }
  return changes;
}

/**
 * Publishes catalog text: validates it first (an invalid one is refused with every error and nothing is written),
 * then writes it only over the version it read (If-Match on its ETag, or If-None-Match: * when none exists), so a
 * concurrent publish is refused rather than overwritten. Identical text is not written again.
 * @throws CatalogConflictError when the published catalog changed between the read and the write
 */
export async function publishCatalog(store: CatalogStore, text: string, sourceName: string): Promise<PublishOutcome> {
  const parsed = parseCatalog(text, sourceName);
  if (!parsed.ok) return { kind: "invalid", errors: parsed.errors };
  const hash = catalogHash(parsed.catalog);
  const previous = await store.read();
  if (previous?.text === text) return { kind: "unchanged", etag: previous.etag, catalogHash: hash };
  // A previous text that does not validate (written by hand) has no entries we can trust: every entry is new.
  const before = previous ? parseCatalog(previous.text) : undefined;
  const { etag } = await store.write(text, previous ? { ifMatch: previous.etag } : { ifNoneMatch: "*" });
  return {
    kind: "published",
    etag,
    previousEtag: previous?.etag,
    catalogHash: hash,
    changes: catalogChanges(before?.ok ? before.catalog : undefined, parsed.catalog),
  };
}
