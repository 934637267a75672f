import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveFromAppRoot } from "../../shared/composition.js";

describe("resolveFromAppRoot", () => {
  it("resolves a relative catalog path against the folder of the nearest package.json, whatever the working directory", () => {
    const root = mkdtempSync(join(tmpdir(), "app-root-"));
    try {
      writeFileSync(join(root, "package.json"), "{}");
      const deep = join(root, "dist", "shared");
      mkdirSync(deep, { recursive: true });
      expect(resolveFromAppRoot("images.yaml", deep)).toBe(join(root, "images.yaml"));
      expect(resolveFromAppRoot("/etc/catalog.yaml", deep)).toBe("/etc/catalog.yaml");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
