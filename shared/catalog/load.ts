import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { LineCounter, isNode, parseDocument } from "yaml";
import type { Document } from "yaml";
import { catalogSchema } from "./schema.js";
import type { Catalog, CatalogImage } from "./schema.js";

/** One problem in a catalog file. `path` reads like `images[2].distribution.targetRegions[0].name`. */
export interface CatalogError {
  path: string;
  message: string;
  /** 1-based position in the YAML text, when known. */
  line?: number;
  column?: number;
}

export type ParseCatalogResult = { ok: true; catalog: Catalog } | { ok: false; errors: CatalogError[] };

/** Thrown by {@link loadCatalog} for a catalog that does not validate; carries every error. */
export class CatalogInvalidError extends Error {
  readonly code = "CATALOG_INVALID";
  constructor(
    readonly source: string,
    readonly errors: readonly CatalogError[],
  ) {
    super(`${source}: ${errors.length} error(s) in the catalog\n${errors.map(formatCatalogError).join("\n")}`);
    this.name = "CatalogInvalidError";
  }
}

/** `images[2].build.location: message (line 40, column 7)`. */
export function formatCatalogError(error: CatalogError): string {
  const where = error.line === undefined ? "" : ` (line ${error.line}, column ${error.column ?? 1})`;
  return `${error.path || "(root)"}: ${error.message}${where}`;
}

/** Formats a property path: `["images", 2, "name"]` → `images[2].name`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text;
}

function positionOf(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]) {
  // Walk up to the nearest node that exists (a missing key points at its parent).
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line, col } = lineCounter.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return {};
}

/**
 * Parses and validates catalog YAML. Every problem is reported at once: YAML syntax errors (with line and column),
 * schema errors and the rules across images, each with its path.
 */
export function parseCatalog(yamlText: string, sourceName = "images.yaml"): ParseCatalogResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: "",
          message: `${sourceName}: YAML syntax error: ${e.message.split("\n")[0] ?? e.code}`,
          ...(pos ? { line: pos.line, column: pos.col } : {}),
        };
      }),
    };
  }
  const result = catalogSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return { ok: true, catalog: result.data };
  const seen = new Set<string>();
  const errors: CatalogError[] = [];
  const add = (path: readonly PropertyKey[], message: string) => {
    const key = `${formatPath(path)}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    errors.push({ path: formatPath(path), message, ...positionOf(doc, lineCounter, path) });
  };
  for (const issue of result.error.issues) {
    // One error per unknown key, pointing at the key itself: usually a typo of a real field.
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) add([...issue.path, k], "unknown field (check its spelling against the schema)");
    } else add(issue.path, issue.message);
  }
  // In file order, so the report reads top to bottom; errors without a position last.
  const order = (e: CatalogError) => (e.line ?? Number.MAX_SAFE_INTEGER) * 10_000 + (e.column ?? 0);
  errors.sort((a, b) => order(a) - order(b));
  return { ok: false, errors };
}

/** Reads and validates the catalog file; throws {@link CatalogInvalidError} (or the file system's error). */
export function loadCatalog(path: string): Catalog {
  const result = parseCatalog(readFileSync(path, "utf8"), path);
  if (!result.ok) throw new CatalogInvalidError(path, result.errors);
  return result.catalog;
}

/** The catalog image with this name (case-insensitive, as Azure compares names), if any. */
export function findImage(catalog: Catalog, name: string): CatalogImage | undefined {
  const wanted = name.toLowerCase();
  return catalog.images.find((image) => image.name.toLowerCase() === wanted);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * SHA-256 (hex) of the parsed entry as canonical JSON (keys sorted, defaults applied): comments, key order, and
 * spelling out a default do not change it; any effective change does. Recorded on versions to skip unchanged builds.
 */
export function catalogEntryHash(image: CatalogImage): string {
  return createHash("sha256").update(canonicalJson(image)).digest("hex");
}

/** SHA-256 (hex) of the whole parsed catalog, like {@link catalogEntryHash}: formatting and comments do not change it. */
export function catalogHash(catalog: Catalog): string {
  return createHash("sha256").update(canonicalJson(catalog)).digest("hex");
}
