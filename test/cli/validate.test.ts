import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CliIo } from "../../cli/command.js";
import { main } from "../../cli/main.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const bin = fileURLToPath(new URL("../../bin/image-pipeline.js", import.meta.url));

/** Runs the CLI through its bin shim, as `npx image-pipeline` does. */
function runBin(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: repoRoot, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function memoryIo(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, cwd: repoRoot };
  return { io, stdout: () => out.join(""), stderr: () => err.join("") };
}

describe("image-pipeline validate (through the bin shim)", () => {
  it("exits 0 with a one-line summary on the sample catalog", async () => {
    const result = await runBin(["validate", "images.yaml"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("images.yaml: valid, 2 images (ubuntu-2404, windows-2022)\n");
  });

  it("exits 1 on a broken catalog and names every error's path", async () => {
    const result = await runBin(["validate", "test/fixtures/catalog/broken.yaml"]);
    expect(result.code).toBe(1);
    for (const path of [
      "images[0].gallery.name",
      "images[0].customize[0].type",
      "images[0].customize[1].sha256Checksum",
      "images[0].build.location",
      "images[0].build.buildTimeoutInMinutes",
      "images[0].distribution.targetRegions[0].regionalReplicaCount",
      "images[1].name",
      "images[1].definition.sku_typo",
      "images[1].build.location",
      "images[1].schedule.cron",
    ]) {
      expect(result.stdout).toContain(`${path}: `);
    }
    expect(result.stdout).toContain('use the programmatic form "westeurope"');
    expect(result.stdout).toMatch(/^test\/fixtures\/catalog\/broken\.yaml:25:\d+: images\[0\]\.build\.location/m);
    expect(result.stdout.trimEnd().split("\n").at(-1)).toBe("test/fixtures/catalog/broken.yaml: invalid, 10 errors");
  });

  it("exits 2 when the file cannot be read", async () => {
    const result = await runBin(["validate", "does-not-exist.yaml"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does-not-exist\.yaml: cannot read the catalog/);
  });
});

describe("the CLI dispatcher", () => {
  it("reads CATALOG_PATH when no file is given", async () => {
    const { io, stdout } = memoryIo({ CATALOG_PATH: "test/fixtures/catalog/minimal.yaml" });
    expect(await main(["validate"], io)).toBe(0);
    expect(stdout()).toBe("test/fixtures/catalog/minimal.yaml: valid, 1 image (ubuntu-2404)\n");
  });

  it("defaults to images.yaml", async () => {
    const { io, stdout } = memoryIo();
    expect(await main(["validate"], io)).toBe(0);
    expect(stdout()).toMatch(/^images\.yaml: valid/);
  });

  it("exits 2 on usage errors and unknown commands", async () => {
    expect(await main(["validate", "a.yaml", "b.yaml"], memoryIo().io)).toBe(2);
    expect(await main(["validate", "--strict"], memoryIo().io)).toBe(2);
    const unknown = memoryIo();
    expect(await main(["deploy"], unknown.io)).toBe(2);
    expect(unknown.stderr()).toMatch(/unknown command "deploy"/);
    expect(await main([], memoryIo().io)).toBe(2);
  });

  it("lists every command file in help", async () => {
    const { io, stdout } = memoryIo();
    expect(await main(["help"], io)).toBe(0);
    expect(stdout()).toMatch(/^ {2}schema +Print the catalog's JSON Schema/m);
    expect(stdout()).toMatch(/^ {2}validate +Check the image catalog/m);
    const usage = memoryIo();
    expect(await main(["validate", "--help"], usage.io)).toBe(0);
    expect(usage.stdout()).toMatch(/^usage: image-pipeline validate \[file\]/);
  });

  it("prints the JSON Schema", async () => {
    const { io, stdout } = memoryIo();
    expect(await main(["schema"], io)).toBe(0);
    expect(JSON.parse(stdout())).toMatchObject({ type: "object", required: ["images"] });
  });
});
