import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findSecrets, scanFolders, secretPatterns } from "./secrets.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Production code and infrastructure: the places a secret literal must never be. */
const scannedFolders = ["infra", "functions", "shared", "cli"];

// Planted samples, assembled at run time so that this file itself holds no secret-looking literal.
const fakeKey = "c2VjcmV0" + "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0PQ==";
const plantedSamples: Record<string, string> = {
  "Service Bus / Event Hubs shared access key": `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=app;Shared${"AccessKey"}=${fakeKey}`,
  "Cosmos DB connection string": `const c = "Account${"Endpoint"}=https://db.documents.azure.com:443/;Account${"Key"}=${fakeKey}";`,
  "storage account key": `AccountName=st;Account${"Key"}=${fakeKey}`,
  "storage connection string": `"Default${"EndpointsProtocol"}=https;AccountName=st;EndpointSuffix=core.windows.net"`,
  "SAS token signature": `https://st.blob.core.windows.net/c/b?sv=2022-11-02&se=2030-01-01&sp=r&s${"ig"}=AbCdEfGhIjKlMnOpQrSt%2B%2F%3D`,
  "private key": `-----BEGIN RSA ${"PRIVATE"} KEY-----`,
  "password literal": `const config = { pass${"word"}: "hunter2hunter2" };`,
  "client secret literal": `clientSecret${""}: 'abc123~def456'`,
};

describe("the secret scanner", () => {
  it("finds no secret literal in infra/, functions/, shared/ or cli/", () => {
    expect(scanFolders(root, scannedFolders)).toEqual([]);
  });

  it.each(secretPatterns.map((p) => p.name))("detects a planted %s", (kind) => {
    const sample = plantedSamples[kind];
    expect(sample, `a planted sample for ${kind}`).toBeDefined();
    expect(findSecrets(`first line\n${sample}\nlast line`, "planted.ts")).toEqual([
      { path: "planted.ts", line: 2, kind },
    ]);
  });

  it("leaves names, empty values and settings that only mention secrets alone", () => {
    const harmless = [
      "ServiceBusConnection__fullyQualifiedNamespace: sb.servicebus.windows.net",
      "SharedAccessKeyName=RootManageSharedAccessKey",
      'password: z.string().min(1), passwordHint: ""',
      "WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/webhook-secret/)'",
      "const sig = computeSignature(body); // sig=sha256",
      "-----BEGIN CERTIFICATE-----",
    ].join("\n");
    expect(findSecrets(harmless, "harmless.ts")).toEqual([]);
  });

  it("walks nested folders of the scanned tree and reports file and line, not the secret", () => {
    const dir = mkdtempSync(join(tmpdir(), "no-secrets-"));
    try {
      mkdirSync(join(dir, "shared", "deep"), { recursive: true });
      writeFileSync(
        join(dir, "shared", "deep", "config.ts"),
        `export const x = 1;\n${plantedSamples["storage account key"]}\n`,
      );
      const findings = scanFolders(dir, scannedFolders);
      expect(findings).toEqual([{ path: "shared/deep/config.ts", line: 2, kind: "storage account key" }]);
      expect(JSON.stringify(findings)).not.toContain(fakeKey);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
