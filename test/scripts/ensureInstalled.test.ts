import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensureInstalled, packagesNotInstalled } from "../../scripts/ensureInstalled.js";

const repoRoot = new URL("../../", import.meta.url).pathname;

const lockfile = {
  name: "app",
  lockfileVersion: 3,
  packages: {
    "": { name: "app", dependencies: { a: "^1.0.0" } },
    "node_modules/a": { version: "1.2.0" },
    "node_modules/@esbuild/darwin-arm64": { version: "0.28.2", optional: true },
    "node_modules/a/node_modules/b": { version: "2.0.0", dev: true },
  },
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A project folder with the lockfile above and, when given, npm's record of what it installed. */
function project(installed?: Record<string, { version: string }>): string {
  const root = mkdtempSync(join(tmpdir(), "ensure-installed-"));
  dirs.push(root);
  writeFileSync(join(root, "package-lock.json"), JSON.stringify(lockfile));
  if (installed) {
    mkdirSync(join(root, "node_modules"));
    writeFileSync(
      join(root, "node_modules", ".package-lock.json"),
      JSON.stringify({ name: "app", lockfileVersion: 3, packages: installed }),
    );
  }
  return root;
}

describe("the install check before npm start and npm test", () => {
  it("finds this repository's node_modules complete as npm ci left it", () => {
    expect(packagesNotInstalled(repoRoot)).toEqual([]);
  });

  it("installs nothing when every locked package is there, platform packages of other machines aside", () => {
    const root = project({
      "node_modules/a": { version: "1.2.0" },
      "node_modules/a/node_modules/b": { version: "2.0.0" },
    });
    const installs: string[] = [];
    expect(ensureInstalled({ root, install: (dir) => (installs.push(dir), 0), log: () => undefined })).toBe(false);
    expect(installs).toEqual([]);
  });

  it("installs when node_modules is missing, lacks a package, or holds another version", () => {
    expect(packagesNotInstalled(project())).toEqual(["node_modules/a", "node_modules/a/node_modules/b"]);
    expect(packagesNotInstalled(project({ "node_modules/a": { version: "1.2.0" } }))).toEqual([
      "node_modules/a/node_modules/b",
    ]);
    const root = project({
      "node_modules/a": { version: "1.1.0" },
      "node_modules/a/node_modules/b": { version: "2.0.0" },
    });
    const installs: string[] = [];
    const lines: string[] = [];
    expect(ensureInstalled({ root, install: (dir) => (installs.push(dir), 0), log: (l) => lines.push(l) })).toBe(true);
    expect(installs).toEqual([root]);
    expect(lines.join("\n")).toContain("node_modules/a");
  });

  it("fails when the install fails", () => {
    expect(() => ensureInstalled({ root: project(), install: () => 1, log: () => undefined })).toThrow(
      /npm ci exited with 1/,
    );
  });
});
