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

describe("image-pipeline validate and forecast, on a catalog's steady state", () => {
  it("validate warns (and still passes) when the steady state would exceed 10,000 versions in a region", async () => {
    const { io, stdout } = memoryIo({ AZURE_SUBSCRIPTION_ID: "sub-1" });
    expect(await main(["validate", "test/fixtures/catalog/too-many-versions.yaml"], io)).toBe(0);
    expect(stdout()).toContain(
      "test/fixtures/catalog/too-many-versions.yaml: warning: sub-1/westeurope: steady-state image versions 12,000 exceeds Azure's limit of 10,000",
    );
  });

  it("validate prints no warning for the sample catalog", async () => {
    const { io, stdout } = memoryIo();
    expect(await main(["validate", "images.yaml"], io)).toBe(0);
    expect(stdout()).not.toContain("warning");
  });

  it("forecast --image prints one image's figures, with prices from a file", async () => {
    const { io, stdout } = memoryIo({ AZURE_SUBSCRIPTION_ID: "sub-1" });
    const args = ["forecast", "images.yaml", "--image", "windows-2022", "--prices", "test/fixtures/prices.yaml"];
    expect(await main(args, io)).toBe(0);
    // 17 versions x 2 replicas x 128 GB = 4,352 GB-months at 0.04 EUR.
    expect(stdout()).toContain("  storage: 4,352.00 replica-GB-months, 174.08 EUR a month\n");
    expect(stdout()).toContain("sub-1/westeurope: 1 galleries, 1 image definitions, 17 image versions\n");
    expect(stdout()).not.toContain("ubuntu-2404");
  });

  it("forecast refuses a price file with a wrong field, naming it", async () => {
    const { io, stderr } = memoryIo();
    expect(await main(["forecast", "--prices", "test/fixtures/catalog/minimal.yaml"], io)).toBe(2);
    expect(stderr()).toContain("cannot use the price file: test/fixtures/catalog/minimal.yaml:");
  });
});
