// A stand-in for the Azure Functions Node.js worker: it loads a function app the way the worker does and drives one
// invocation through @azure/functions' own conversions, on plain Node (no loader but its own):
// - `@azure/functions-core` is answered from Module.prototype.require, as the worker provides it (never from disk);
// - the app registers its functions and programming model through it;
// - an invocation goes through ProgrammingModel.getInvocationModel(): getArguments, invokeFunction, getResponse.
//
// Usage: node functionsWorker.mjs <entry> [<invocation JSON file>] [-- worker arguments such as --host/--port]
// The invocation file holds { functionName, modelBindingData: { source, contentType, version, contentBase64 } } for
// an SDK-bound Service Bus trigger, or { functionName, http: { method, url, headers, body } } for an HTTP trigger.
// Prints one JSON line (registrations, the invocation's outcome and response, timings since the process started),
// then exits: clients the app opened would otherwise keep it alive.
// Used by test/scripts/bundle.test.ts and by the cold start benchmark (bench/coldstart.ts).
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import Module from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const [entry, invocationFile] = process.argv.slice(2);
const registrations = [];
const hostLog = [];
let programmingModel;
const coreApi = {
  version: "3.12.0",
  setProgrammingModel: (model) => (programmingModel = model),
  getProgrammingModel: () => programmingModel,
  registerFunction: (metadata, handler) => {
    registrations.push({ metadata, handler });
    return { dispose() {} };
  },
  registerHook: () => ({ dispose() {} }),
  log: (level, category, message) => hostLog.push({ level, category, message }),
};
const require = Module.prototype.require;
Module.prototype.require = function (id, ...rest) {
  return id === "@azure/functions-core" ? coreApi : require.call(this, id, ...rest);
};

const importStartedInMs = performance.now();
await import(pathToFileURL(entry).href);
const readyInMs = performance.now();

/** The trigger's data as the host sends it over gRPC (RpcTypedData). */
function triggerData(invocation) {
  if (invocation.modelBindingData) {
    const { contentBase64, ...rest } = invocation.modelBindingData;
    return { modelBindingData: { ...rest, content: Buffer.from(contentBase64, "base64") } };
  }
  const { method, url, headers, body } = invocation.http;
  return { http: { method, url, headers, body: { string: body }, query: {}, params: {} } };
}

let outcome;
let response;
if (invocationFile && !invocationFile.startsWith("--")) {
  const invocation = JSON.parse(readFileSync(invocationFile, "utf8"));
  const registered = registrations.find((r) => r.metadata.name === invocation.functionName);
  try {
    if (!registered) throw new Error(`no function ${invocation.functionName} registered`);
    const trigger = Object.entries(registered.metadata.bindings).find(([, b]) => /trigger$/i.test(b.type));
    const invocationId = "11111111-1111-1111-1111-111111111111";
    const model = programmingModel.getInvocationModel({
      invocationId,
      metadata: registered.metadata,
      request: { invocationId, inputData: [{ name: trigger[0], data: triggerData(invocation) }], triggerMetadata: {} },
      state: undefined,
      log: (level, category, message) => hostLog.push({ level, category, message }),
    });
    const { context, inputs } = await model.getArguments();
    const result = await model.invokeFunction(context, inputs, registered.handler);
    response = await model.getResponse(context, result);
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
const respondedInMs = performance.now();
process.stdout.write(
  `${JSON.stringify({
    programmingModel: programmingModel ? { name: programmingModel.name, version: programmingModel.version } : null,
    registrations: registrations.map((r) => r.metadata),
    outcome,
    response,
    hostLog,
    timings: { importStartedInMs, readyInMs, respondedInMs },
  })}\n`,
  () => process.exit(0),
);
