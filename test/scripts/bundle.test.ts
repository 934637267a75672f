import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ServiceBusClient } from "@azure/service-bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { functionTable } from "../../functions/table.js";
import { startArmEmulator, type ArmEmulator } from "../../local/arm/index.js";
import { startAzurite, type Azurite } from "../../local/azurite/index.js";
import { provisionCatalogContainer, provisionGalleries } from "../../local/provision.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "../../local/servicebus/index.js";
import { localAzure } from "../../local/settings.js";
import { loadQueueConfig } from "../../shared/config/queues.js";
import { signBody } from "../../shared/webhook/signature.js";
import { bundleApp } from "../../scripts/bundle.js";
import { BlobCatalogStore } from "../../shared/adapters/catalogBlob.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import { lockToken, modelBindingContent, startSettlementHost, type SettlementHost } from "../fakes/settlementHost.js";

/**
 * The deployment package as Azure runs it: built by `npm run build`, copied to a folder with no node_modules above it,
 * loaded by a stand-in for the Functions worker (bench/lib/functionsWorker.mjs) that answers `@azure/functions-core`
 * as the worker does and drives invocations through @azure/functions' own conversion of trigger data. Settlement goes
 * to a gRPC server here that speaks the extension's settlement.proto, as the Functions host does.
 */

const worker = fileURLToPath(new URL("../../bench/lib/functionsWorker.mjs", import.meta.url));

/** A queue message's model binding data as the worker receives it over gRPC (its content in base64). */
function modelBindingOf(body: Buffer, messageId: string) {
  return {
    source: "AzureServiceBusReceivedMessage",
    contentType: "application/octet-stream",
    version: "1.0",
    contentBase64: modelBindingContent(body, messageId).toString("base64"),
  };
}

interface WorkerReport {
  programmingModel: { name: string; version: string } | null;
  registrations: { name: string; bindings: Record<string, Record<string, unknown>> }[];
  outcome: { ok: boolean; error?: string };
  response?: { returnValue?: { http?: { statusCode?: string; body?: { bytes?: Record<string, number> } } } };
  hostLog: { level: string; category: string; message: string }[];
}

describe("the deployment package (npm run build)", () => {
  let host: SettlementHost;
  let calls: SettlementHost["calls"];
  let dir: string;
  let entry: string;
  let azurite: Azurite;
  /** The catalog as the deployed app reads it: images.yaml published to a blob, reached through the bundled SDK. */
  let catalogSettings: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "deployment-package-"));
    azurite = await startAzurite({ stateDir: path.join(dir, "azurite") });
    const catalogBlobUrl = await provisionCatalogContainer(azurite);
    await new BlobCatalogStore({
      blobUrl: catalogBlobUrl,
      connectionString: azurite.connectionString,
      maxAgeInSeconds: 0,
    }).write(readFileSync("images.yaml", "utf8"), { ifNoneMatch: "*" });
    catalogSettings = {
      CATALOG_BLOB_URL: catalogBlobUrl,
      CATALOG_STORAGE_CONNECTION_STRING: azurite.connectionString,
    };
    await bundleApp({ outdir: path.join(dir, "build") });
    // What azd zips: the folder alone, nothing to resolve packages from.
    cpSync(path.join(dir, "build"), path.join(dir, "site/wwwroot"), { recursive: true });
    entry = path.join(dir, "site/wwwroot", "index.js");
    host = await startSettlementHost();
    calls = host.calls;
  }, 120_000);
  afterAll(async () => {
    host?.stop();
    await azurite?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the worker stand-in on one invocation; asynchronously, since the settlement server answers from this process. */
  async function run(invocation: object, env: Record<string, string> = {}): Promise<WorkerReport> {
    const file = path.join(dir, `invocation-${++invocations}.json`);
    writeFileSync(file, JSON.stringify(invocation));
    const { stdout } = await promisify(execFile)(process.execPath, [worker, entry, file, ...host.workerArgs], {
      encoding: "utf8",
      timeout: 60_000,
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    const line = stdout.split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(`the worker stand-in reported nothing: ${stdout}`);
    return JSON.parse(line) as WorkerReport;
  }
  let invocations = 0;
  const invoke = (functionName: string, body: Buffer) =>
    run({ functionName, modelBindingData: modelBindingOf(body, "m-1") });

  it("carries its manifest and host.json, names index.js as the entry, and no catalog (the app reads its blob)", () => {
    const root = path.join(dir, "site/wwwroot");
    expect(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"))).toMatchObject({
      type: "module",
      main: "index.js",
    });
    expect(readFileSync(path.join(root, "host.json"), "utf8")).toBe(readFileSync("host.json", "utf8"));
    expect(existsSync(path.join(root, "images.yaml"))).toBe(false);
  });

  it("serves the dashboard's page from the assets it carries, with its Content-Security-Policy", async () => {
    const report = await run({
      functionName: "dashboardPage",
      http: { method: "GET", url: "https://func-test.azurewebsites.net/api/dashboard" },
    });

    expect(report.outcome).toEqual({ ok: true });
    const http = report.response?.returnValue?.http as
      { statusCode?: string; headers?: Record<string, string>; body?: { bytes?: Record<string, number> } } | undefined;
    expect(http?.statusCode).toBe("200");
    expect(http?.headers?.["content-security-policy"]).toContain("script-src 'self'");
    const html = Buffer.from(Object.values(http?.body?.bytes ?? {})).toString("utf8");
    const script = /src="\/api\/dashboard\/assets\/app\.js\?v=([\w-]+)"/.exec(html);
    expect(script).not.toBeNull();
    const bytes = readFileSync(path.join(dir, "site/wwwroot/dist/dashboard/app.js"));
    expect(createHash("sha256").update(bytes).digest("base64url").startsWith(script![1]!)).toBe(true);
  });

  it("registers every function of the table with the worker, queue triggers bound to the SDK", async () => {
    const report = await invoke("startBuild", Buffer.from("{}"));

    expect(report.programmingModel?.name).toBe("@azure/functions");
    expect(report.registrations.map((r) => r.name).sort()).toEqual(functionTable.map((f) => f.name).sort());
    for (const fn of functionTable.filter((f) => f.trigger === "serviceBusQueue")) {
      const trigger = Object.values(report.registrations.find((r) => r.name === fn.name)!.bindings).find(
        (b) => b.type === "serviceBusTrigger",
      );
      expect(trigger, fn.name).toMatchObject({ queueName: fn.options.queueName, autoCompleteMessages: false });
      expect(trigger?.properties, fn.name).toMatchObject({ supportsDeferredBinding: "true" });
    }
  });

  it("dead-letters a queue message that fails its schema, with the reason, through the host's settlement", async () => {
    calls.length = 0;
    const report = await invoke("startBuild", Buffer.from(JSON.stringify({ image: 42 })));

    expect(report.outcome).toEqual({ ok: true });
    expect(calls.map((c) => c.method)).toEqual(["Deadletter"]);
    expect(calls[0]?.request.locktoken).toBe(lockToken);
    expect(calls[0]?.request.deadletterReason).toEqual({ value: "SchemaValidationFailed" });
    expect(String((calls[0]?.request.deadletterErrorDescription as { value: string }).value)).toMatch(/image/);
  });

  it("dead-letters a body that is not JSON as InvalidJson", async () => {
    calls.length = 0;
    await invoke("watchBuild", Buffer.from("{not json"));

    expect(calls.map((c) => c.method)).toEqual(["Deadletter"]);
    expect(calls[0]?.request.deadletterReason).toEqual({ value: "InvalidJson" });
  });

  describe("with the Service Bus emulator", () => {
    let serviceBus: ServiceBusEmulator;
    beforeAll(async () => {
      serviceBus = await startServiceBusEmulator({
        stateDir: path.join(dir, "servicebus"),
        queues: loadQueueConfig().queues,
        port: 0,
      });
    });
    afterAll(() => serviceBus?.stop());

    it("answers a signed webhook with 202 and sends the build request through the bundled Service Bus SDK", async () => {
      const secret = "5".repeat(64);
      const body = JSON.stringify({ image: "ubuntu-2404", commit: "0c26b7ba", ref: "refs/heads/main" });
      const report = await run(
        {
          functionName: "buildWebhook",
          http: {
            method: "POST",
            url: "https://func-test.azurewebsites.net/api/builds",
            headers: {
              "content-type": "application/json",
              "x-hub-signature-256": signBody(body, secret),
            },
            body,
          },
        },
        {
          AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
          IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
          IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
          ServiceBusConnection: serviceBus.connectionString,
          WEBHOOK_SECRET: secret,
          ...catalogSettings,
        },
      );

      expect(report.outcome).toEqual({ ok: true });
      expect(report.response?.returnValue?.http?.statusCode).toBe("202");
      const client = new ServiceBusClient(serviceBus.connectionString);
      try {
        const [message] = await client.createReceiver("build-requests").peekMessages(1);
        expect(message?.body).toMatchObject({ image: "ubuntu-2404", commit: "0c26b7ba" });
      } finally {
        await client.close();
      }
    });
  });

  describe("with the ARM emulator", () => {
    let arm: ArmEmulator;
    beforeAll(async () => {
      arm = await startArmEmulator({ stateDir: path.join(dir, "arm"), port: 0 });
      await provisionGalleries(arm, loadCatalog("images.yaml"));
    });
    afterAll(() => arm?.stop());

    it("reads the gallery through the bundled ARM SDKs, trusting the emulator's certificate", async () => {
      const report = await run(
        { functionName: "imageStatus", http: { method: "GET", url: "https://func-test.azurewebsites.net/api/images" } },
        {
          AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
          IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
          IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
          ServiceBusConnection:
            "Endpoint=sb://localhost:1;SharedAccessKeyName=l;SharedAccessKey=l;UseDevelopmentEmulator=true",
          ARM_ENDPOINT: arm.endpoint,
          ARM_AUTH: "emulator",
          ARM_CA_CERT_PATH: arm.caCertPath,
          ...catalogSettings,
        },
      );

      expect(report.outcome).toEqual({ ok: true });
      const http = report.response?.returnValue?.http;
      expect(http?.statusCode).toBe("200");
      const body = JSON.parse(Buffer.from(Object.values(http?.body?.bytes ?? {})).toString("utf8")) as {
        images: { image: string; gallery: string; exists: boolean }[];
      };
      const catalog = loadCatalog("images.yaml").images;
      expect(body.images.map((i) => i.image)).toEqual(catalog.map((i) => i.name));
      // Read from the gallery: no definition exists before a first build.
      expect(body.images.map((i) => i.exists)).toEqual(catalog.map(() => false));
    });
  });
});
