import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:https";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ComputeManagementClient } from "@azure/arm-compute";
import { poll, startHarness, stubCredential, subscriptionId, type Harness } from "./helpers.js";

const repoRoot = new URL("../../../", import.meta.url).pathname;

/** Starts the emulator's CLI as a child process; resolves once it printed its endpoint. */
function startCli(stateDir: string): Promise<{ child: ChildProcess; endpoint: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "local/arm/main.ts", "--port", "0", "--state", stateDir],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const endpoint = /ARM emulator listening on (\S+)/.exec(out)?.[1];
      if (endpoint) resolve({ child, endpoint });
    });
    child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode ? resolve() : child.once("exit", () => resolve()),
  );
}

describe("durability of the ARM emulator", () => {
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill("SIGKILL");
      await exited(child);
    }
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("keeps every acknowledged write across a SIGKILL of its process, killed right after the last answer", async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), "arm-durability-"));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const { child, endpoint } = await startCli(stateDir);
    children.push(child);
    const ca = await readFile(path.join(stateDir, "ca-cert.pem"), "utf8");
    const compute = new ComputeManagementClient(stubCredential, subscriptionId, { endpoint, tlsOptions: { ca } });
    // The writes: each one counts only once the emulator has answered it.
    const admin = (method: string, adminPath: string, body?: unknown) =>
      new Promise<number>((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = request(
          new URL(`/_emulator/${adminPath}`, endpoint),
          { method, ca, headers: payload ? { "content-type": "application/json" } : {} },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(payload);
      });
    expect(await admin("PUT", "config", { operationDurationInMs: 0, throttling: { enabled: false } })).toBe(200);
    const armPut = (armPath: string, body: unknown) =>
      new Promise<number>((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify(body));
        const req = request(
          new URL(armPath, endpoint),
          { method: "PUT", ca, headers: { authorization: "Bearer t", "content-type": "application/json" } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(payload);
      });
    const sub = `/subscriptions/${subscriptionId}`;
    expect(await armPut(`${sub}/resourcegroups/rg-durable?api-version=2022-09-01`, { location: "westeurope" })).toBe(
      201,
    );
    await compute.galleries.createOrUpdate("rg-durable", "gal", { location: "westeurope" }, poll);
    await compute.galleryImages.createOrUpdate(
      "rg-durable",
      "gal",
      "ubuntu",
      {
        location: "westeurope",
        osType: "Linux",
        osState: "Generalized",
        identifier: { publisher: "contoso", offer: "golden", sku: "ubuntu" },
      },
      poll,
    );
    const images = Array.from({ length: 20 }, (_, i) => `image-${i}`);
    const statuses = await Promise.all(
      images.map((name) =>
        armPut(`${sub}/resourceGroups/rg-durable/providers/Microsoft.Compute/images/${name}?api-version=2024-11-01`, {
          location: "westeurope",
          properties: {
            hyperVGeneration: "V2",
            storageProfile: { osDisk: { osType: "Linux", osState: "Generalized" } },
          },
        }),
      ),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    // The last acknowledged write, then the kill, with no chance for a delayed save.
    expect(
      await armPut(
        `${sub}/resourceGroups/rg-durable/providers/Microsoft.Compute/galleries/last?api-version=2025-12-03`,
        {
          location: "westeurope",
        },
      ),
    ).toBe(201);
    child.kill("SIGKILL");
    await exited(child);

    const restarted: Harness = await startHarness(stateDir);
    cleanups.push(() => restarted.emulator.stop());
    const names: string[] = [];
    for await (const image of restarted.compute.images.listByResourceGroup("rg-durable")) names.push(image.name!);
    expect(names.sort()).toEqual([...images].sort());
    expect((await restarted.compute.galleries.get("rg-durable", "last")).name).toBe("last");
    expect((await restarted.compute.galleryImages.get("rg-durable", "gal", "ubuntu")).name).toBe("ubuntu");
    const config = await restarted.admin<{ operationDurationInMs: number }>("GET", "config");
    expect(config.operationDurationInMs).toBe(0);
  });
});
