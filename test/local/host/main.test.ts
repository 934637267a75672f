import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import type { LogRecord } from "../../../local/host/index.js";
import { findFunctionTable } from "../../../local/host/main.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../../..");

describe("the local host CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "local-host-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs a timer of the table with local.settings.json values exported to the functions' environment", async () => {
    writeFileSync(
      join(dir, "local.settings.json"),
      JSON.stringify({ IsEncrypted: false, Values: { PRUNE_SCHEDULE: "0 30 3 * * *", PRUNE_DRY_RUN: "true" } }),
    );
    const { stdout } = await run(
      join(repoRoot, "node_modules", ".bin", "tsx"),
      [
        join(repoRoot, "local", "host", "main.ts"),
        "--table",
        join(repoRoot, "test", "local", "host", "fixtures", "table.ts"),
        "--port",
        "0",
        "--log",
        "json",
        "--invoke",
        "pruneVersions",
      ],
      { cwd: dir, env: { PATH: process.env.PATH ?? "" }, timeout: 60_000 },
    );
    const records = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as LogRecord);
    expect(records.find((r) => r.category === "function")?.message).toBe("dry run: true");
    expect(records.find((r) => r.event === "invocation.end")?.outcome).toBe("succeeded");
    expect(records.at(-1)?.event).toBe("host.stopped");
  });

  it("finds the table under the usual export names, or as the only exported table", () => {
    const table = [{ trigger: "http", name: "ping", options: { handler: async () => ({}) } }];
    expect(findFunctionTable({ default: table })).toBe(table);
    expect(findFunctionTable({ somethingElse: 1, appFunctions: table })).toBe(table);
    expect(() => findFunctionTable({ helpers: {} })).toThrow(/no function table/);
  });
});
