import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import { provisionGalleries } from "../../local/provision.js";
import { requestBuild } from "../../shared/usecases/requestBuild.js";
import { api, eventually, startTestStack } from "../e2e/harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

/**
 * Functions leaves an app setting's `@Microsoft.KeyVault(...)` text in place when the reference cannot be resolved
 * (Microsoft Learn, "Use Key Vault references as app settings"): that must disable the webhook, and nothing else.
 */
describe("the webhook when WEBHOOK_SECRET is an unresolved Key Vault reference", () => {
  let stack: Stack;
  const vaultUri = "https://kv-unresolved.vault.azure.net/secrets/webhook-secret/";
  const commit = "5".repeat(40);

  beforeAll(async () => {
    stack = await startTestStack({ overrides: { WEBHOOK_SECRET: `@Microsoft.KeyVault(SecretUri=${vaultUri})` } });
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("answers 503 WebhookSecretUnavailable naming the setting, never the reference, and queues nothing", async () => {
    const response = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image: "ubuntu-2404", commit }),
    });
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe("WebhookSecretUnavailable");
    expect(response.body.error.message).toMatch(/WEBHOOK_SECRET: the Key Vault reference did not resolve/);
    expect(JSON.stringify(response.body)).not.toContain("kv-unresolved");
    expect(stack.serviceBus.stats("build-requests").active).toBe(0);
  });

  it("runs every other function: status reads, timers and queue triggers", async () => {
    expect((await api(stack, "/images")).status).toBe(200);
    await stack.host.invokeTimer("pruneVersions");
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const requested = await requestBuild(await stack.pipeline.deps(log), {
      image: "ubuntu-2404",
      commit,
      reason: "manual",
      requestedBy: "test",
    });
    // startBuild, a queue trigger, took the request and started Image Builder.
    await eventually(`build ${requested.buildId} to start`, async () => {
      const { status, body } = await api(stack, `/builds/${requested.buildId}`);
      return status === 200 && body.stage !== "queued" ? body : undefined;
    });
  });
});
