import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fastConfig, poll, startHarness } from "./helpers.js";

describe("the ARM emulator across a restart", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("keeps resources, configuration, the certificate and in-flight simulated work", async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), "arm-restart-"));
    dirs.push(stateDir);
    const first = await startHarness(stateDir);
    await first.admin("PUT", "config", fastConfig);
    await first.admin("PUT", "config", { imageBuilder: { phaseDurationsInMs: { Building: 60_000 } } });
    await first.resourceGroup("rg");
    const identity = await first.identity("rg", "aib");
    await first.compute.galleries.createOrUpdate("rg", "gal", { location: "westeurope" }, poll);
    await first.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      "rg",
      "tpl",
      {
        location: "westeurope",
        identity: {
          type: "UserAssigned",
          userAssignedIdentities: { [identity.id]: {} },
        },
        source: {
          type: "PlatformImage",
          publisher: "Canonical",
          offer: "ubuntu-24_04-lts",
          sku: "server",
          version: "latest",
        },
        distribute: [{ type: "VHD", runOutputName: "vhd" }],
      },
      poll,
    );
    await first.imageBuilder.virtualMachineImageTemplates.run("rg", "tpl", poll).submitted();
    const certificate = first.emulator.caCertPem;
    await first.stop();

    const second = await startHarness(stateDir);
    try {
      expect(second.emulator.caCertPem).toBe(certificate);
      expect((await second.compute.galleries.get("rg", "gal")).provisioningState).toBe("Succeeded");
      const config = await second.admin<{ imageBuilder: { phaseDurationsInMs: { Building: number } } }>(
        "GET",
        "config",
      );
      expect(config.imageBuilder.phaseDurationsInMs.Building).toBe(60_000);
      const running = await second.imageBuilder.virtualMachineImageTemplates.get("rg", "tpl");
      expect(running.lastRunStatus).toMatchObject({ runState: "Running", runSubState: "Building" });
      await second.admin("POST", "clock", { advanceByMs: 61_000 });
      const done = await second.imageBuilder.virtualMachineImageTemplates.get("rg", "tpl");
      expect(done.lastRunStatus?.runState).toBe("Succeeded");
      const output = await second.imageBuilder.virtualMachineImageTemplates.getRunOutput("rg", "tpl", "vhd");
      expect(output.artifactUri).toMatch(/\.vhd$/);
    } finally {
      await second.stop();
    }
  });
});
