/**
 * The source of a probe that runs in a fresh `node --input-type=module -e` process, on plain Node (no loader but
 * its own): it records every module resolution, ESM through a `module.register()` resolve hook and CommonJS through
 * `Module._resolveFilename` (on Node 20 `require()` does not pass through the hooks), then:
 *
 * - `PROBE_MODE=tsc`: imports the app (`PROBE_ENTRY`, dist/functions/index.js) and functions/buildWebhook.js, serves
 *   one signed webhook request through the real handler (only the message sender is replaced by a recorder, so no
 *   Service Bus is needed), and reports any ARM SDK resolution; then imports @azure/arm-compute as a positive control
 *   (the recorder must see it, or the check proves nothing).
 * - `PROBE_MODE=bundle`: imports the bundle's entry and reports the files it loaded (which chunks); then asks the
 *   bundle's one functions-extensions-base registry (`PROBE_BASE_CHUNK`) to convert Service Bus trigger data, as
 *   @azure/functions does for an SDK-bound trigger: the app's deferring factory must be registered there and keep the
 *   data for the handler (the extension itself loads on the first queue message; test/scripts/bundle.test.ts drives
 *   that conversion and settlement through the bundle).
 *
 * Prints one JSON line. Plain JavaScript in a string so that the child needs neither tsx nor a build.
 */
export const webhookProbeSource = String.raw`
import { createRequire, register } from "node:module";
import { MessageChannel } from "node:worker_threads";
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";

const mode = process.env.PROBE_MODE;
const resolved = [];
const { port1, port2 } = new MessageChannel();
const waiting = new Map();
port1.on("message", (url) => {
  resolved.push(url);
  const marker = /probe-flush-(\d+)/.exec(url);
  if (marker) waiting.get(marker[1])?.();
});
port1.unref();
const hooks = [
  "let port;",
  "export function initialize(data) { port = data.port; }",
  "export async function resolve(specifier, context, next) {",
  "  const result = await next(specifier, context);",
  "  port.postMessage(result.url);",
  "  return result;",
  "}",
].join("\n");
register("data:text/javascript," + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
const Module = createRequire(import.meta.url)("node:module");
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  resolved.push(file.startsWith("/") ? pathToFileURL(file).href : "node:" + file);
  return file;
};

// Messages from the hooks thread arrive asynchronously: import a marker module and wait until its URL comes back.
let flushes = 0;
async function flush() {
  const id = String(++flushes);
  const seen = new Promise((resolve) => waiting.set(id, resolve));
  await import("data:text/javascript,export default 'probe-flush-" + id + "'");
  await seen;
}
const isArm = (url) => /\/node_modules\/@azure\/arm-(compute|imagebuilder)\//.test(url);

await import(process.env.PROBE_ENTRY);
const report = { mode };
if (mode === "tsc") {
  const dist = process.env.PROBE_DIST;
  const { buildWebhook } = await import(dist + "/functions/buildWebhook.js");
  const { createPipeline } = await import(dist + "/functions/composition.js");
  const { parseSettings } = await import(dist + "/shared/config/settings.js");
  const { signBody } = await import(dist + "/shared/webhook/signature.js");
  // A webpack-built CommonJS package: its exports are on the default export.
  const functions = await import("@azure/functions");
  const { HttpRequest, InvocationContext } = functions.HttpRequest ? functions : functions.default;
  const secret = randomBytes(32).toString("hex");
  const settings = parseSettings({
    AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000000",
    IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
    IMAGE_BUILDER_IDENTITY_ID:
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id",
    ServiceBusConnection__fullyQualifiedNamespace: "sb-probe.servicebus.windows.net",
    WEBHOOK_SECRET: secret,
  });
  // The catalog comes from images.yaml in memory: the probe looks at which SDKs the webhook loads, not at storage.
  const { parseCatalog, catalogHash } = await import(dist + "/shared/catalog/load.js");
  const { readFileSync } = await import("node:fs");
  const { catalog } = parseCatalog(readFileSync("images.yaml", "utf8"));
  const snapshot = { catalog, etag: '"probe"', hash: catalogHash(catalog) };
  const pipeline = createPipeline(settings, { catalogReader: { current: async () => snapshot } });
  const sent = [];
  const bus = { send: async (queue, body) => void sent.push({ queue, body }), close: async () => {} };
  const probed = { ...pipeline, deps: async (log, expectation) => ({ ...(await pipeline.deps(log, expectation)), bus }) };
  const image = catalog.images[0].name;
  const body = JSON.stringify({ image, commit: "0123abcd", ref: "refs/heads/main" });
  const request = new HttpRequest({
    method: "POST",
    url: "https://func-probe.azurewebsites.net/api/builds",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signBody(body, secret),
    },
    body: { string: body },
  });
  const context = new InvocationContext({ functionName: "buildWebhook", invocationId: "probe", logHandler: () => {} });
  const response = await buildWebhook(() => probed)(request, context);
  report.webhook = { status: response.status, messagesSent: sent.length, queue: sent[0]?.queue };
  await flush();
  report.resolvedCount = resolved.length;
  report.armResolvedAfterApp = resolved.filter(isArm);
  report.loadedFiles = [];
  const before = resolved.length;
  await import("@azure/arm-compute");
  await flush();
  report.positiveControl = { armResolved: resolved.slice(before).filter(isArm) };
} else {
  await flush();
  report.resolvedCount = resolved.length;
  report.armResolvedAfterApp = resolved.filter(isArm);
  const root = new URL(".", process.env.PROBE_ENTRY).href;
  report.loadedFiles = [...new Set(resolved.filter((u) => u.startsWith(root) && u.endsWith(".js")))];
  const { require_azure_functions_extensions_base: base } = await import(process.env.PROBE_BASE_CHUNK);
  const registry = base().ResourceFactoryResolver.getInstance();
  const type = "AzureServiceBusReceivedMessage";
  const binding = { content: Buffer.from("not converted at start"), source: type };
  let converted;
  try {
    converted = registry.createClient(type, binding);
  } catch (e) {
    converted = e.message;
  }
  report.serviceBusBinding = { deferred: converted?.modelBindingData === binding };
}
console.log(JSON.stringify(report));
`;
