import { describe, expect, it } from "vitest";
import { parseSettings, webhookSecrets } from "../../../shared/config/settings.js";
import { ConfigurationError } from "../../../shared/errors.js";

const required = {
  AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000000",
  IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
  IMAGE_BUILDER_IDENTITY_ID:
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id",
  ServiceBusConnection__fullyQualifiedNamespace: "sb-images.servicebus.windows.net",
};

describe("parseSettings", () => {
  it("names every missing setting at once", () => {
    expect(() => parseSettings({})).toThrowError(ConfigurationError);
    try {
      parseSettings({});
    } catch (error) {
      const message = (error as Error).message;
      for (const name of [
        "AZURE_SUBSCRIPTION_ID: missing",
        "IMAGE_BUILDER_RESOURCE_GROUP: missing",
        "IMAGE_BUILDER_IDENTITY_ID: missing",
        "ServiceBusConnection__fullyQualifiedNamespace",
      ]) {
        expect(message).toContain(name);
      }
    }
  });

  it("applies defaults and coerces numbers and booleans, whatever their case", () => {
    const settings = parseSettings({ ...required, PRUNE_DRY_RUN: "True", REPLICATION_MAX_RETRIES: "5" });
    expect(settings).toMatchObject({
      PRUNE_DRY_RUN: true,
      REPLICATION_MAX_RETRIES: 5,
      ARM_ENDPOINT: "https://management.azure.com",
      ARM_AUTH: "azure",
    });
  });

  it("reads the health checks' allowed networks as a list of CIDRs, naming the setting when one is not", () => {
    expect(parseSettings(required).HEALTH_CHECK_ALLOWED_NETWORKS).toEqual([]);
    expect(
      parseSettings({ ...required, HEALTH_CHECK_ALLOWED_NETWORKS: "10.1.0.0/16, fd00::/8" })
        .HEALTH_CHECK_ALLOWED_NETWORKS,
    ).toEqual(["10.1.0.0/16", "fd00::/8"]);
    expect(() => parseSettings({ ...required, HEALTH_CHECK_ALLOWED_NETWORKS: "10.1.0.0" })).toThrowError(
      "HEALTH_CHECK_ALLOWED_NETWORKS.0: each entry must be a network in CIDR notation, such as 10.1.0.0/16",
    );
  });

  it("keeps an unresolved Key Vault reference as an unusable webhook secret, without failing the other settings", () => {
    const reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/webhook/)";
    const settings = parseSettings({ ...required, WEBHOOK_SECRET: reference });
    expect(settings.IMAGE_BUILDER_RESOURCE_GROUP).toBe("rg-image-builder");
    const webhook = webhookSecrets(settings);
    expect(webhook).toEqual({
      unusable: expect.stringMatching(/^WEBHOOK_SECRET: the Key Vault reference did not resolve/),
    });
    expect(JSON.stringify(webhook)).not.toContain("kv.vault.azure.net");
  });

  it("disables the webhook when the previous secret of a rotation is unresolved or blank, not only the current one", () => {
    const reference = "@Microsoft.KeyVault(VaultName=kv;SecretName=webhook-secret-previous)";
    expect(
      webhookSecrets(parseSettings({ ...required, WEBHOOK_SECRET: "s1", WEBHOOK_SECRET_PREVIOUS: reference })),
    ).toEqual({
      unusable: expect.stringMatching(/^WEBHOOK_SECRET_PREVIOUS: /),
    });
    expect(webhookSecrets(parseSettings({ ...required, WEBHOOK_SECRET: "   " }))).toEqual({
      unusable: "WEBHOOK_SECRET: the value is blank",
    });
  });

  it("gives the webhook its secrets, current first, and none when no secret is set", () => {
    expect(webhookSecrets(parseSettings({ ...required, WEBHOOK_SECRET: "s1", WEBHOOK_SECRET_PREVIOUS: "s0" }))).toEqual(
      {
        secrets: ["s1", "s0"],
      },
    );
    expect(webhookSecrets(parseSettings(required))).toEqual({ secrets: [] });
  });

  it("never echoes a secret value in its errors", () => {
    try {
      parseSettings({ ...required, WEBHOOK_MAX_BODY_IN_BYTES: "not-a-number", WEBHOOK_SECRET: "hunter2-secret" });
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2-secret");
      expect((error as Error).message).toContain("WEBHOOK_MAX_BODY_IN_BYTES");
    }
  });
});
