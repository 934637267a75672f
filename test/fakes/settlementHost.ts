import { createRequire } from "node:module";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import rhea from "rhea";

const require = createRequire(import.meta.url);

/** One settlement call the Functions host received from the Service Bus extension. */
export interface SettlementCall {
  method: "Complete" | "Abandon" | "Deadletter" | "Defer" | "RenewMessageLock";
  request: Record<string, unknown>;
}

/** A running stand-in for the host's settlement service. */
export interface SettlementHost {
  /** Every call received, in order. */
  calls: SettlementCall[];
  port: number;
  /** The worker arguments the extension reads to find the host. */
  workerArgs: string[];
  stop(): void;
}

/**
 * The Functions host's side of explicit settlement: a gRPC server on loopback speaking the extension's own
 * settlement.proto, recording each call and answering Empty, as the host does once it has settled the message.
 */
export async function startSettlementHost(): Promise<SettlementHost> {
  const extensionDir = path.dirname(require.resolve("@azure/functions-extensions-servicebus/package.json"));
  const definition = protoLoader.loadSync(path.join(extensionDir, "dist/proto/settlement.proto"), { keepCase: true });
  const service = (grpc.loadPackageDefinition(definition).Settlement as grpc.ServiceClientConstructor).service;
  const calls: SettlementCall[] = [];
  const record =
    (method: SettlementCall["method"]) =>
    (call: { request: Record<string, unknown> }, done: (e: null, r: object) => void) => {
      calls.push({ method, request: call.request });
      done(null, {});
    };
  const server = new grpc.Server();
  server.addService(service, {
    Complete: record("Complete"),
    Abandon: record("Abandon"),
    Deadletter: record("Deadletter"),
    Defer: record("Defer"),
    RenewMessageLock: record("RenewMessageLock"),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    calls,
    port,
    workerArgs: ["--host", "127.0.0.1", "--port", String(port), "--functions-grpc-max-message-length", "4194304"],
    stop: () => server.forceShutdown(),
  };
}

/** A message's lock token as Service Bus gives it (a GUID in .NET byte order)... */
const lockTokenBytes = Buffer.from("00112233445566778899aabbccddeeff", "hex");
/** ...and the string the extension makes of it. */
export const lockToken = "33221100-5544-7766-8899-aabbccddeeff";

/**
 * The content of a Service Bus trigger's model binding data as the host sends it: the lock token, the
 * `x-opt-lock-token` marker, then the AMQP-encoded message (a JSON body in a data section).
 */
export function modelBindingContent(body: Buffer, messageId: string): Buffer {
  const amqp = rhea.message.encode({
    message_id: messageId,
    content_type: "application/json",
    body: rhea.message.data_section(body),
    message_annotations: { "x-opt-sequence-number": 7, "x-opt-enqueued-time": Date.UTC(2026, 10, 23) },
  } as rhea.Message);
  return Buffer.concat([lockTokenBytes, Buffer.from("x-opt-lock-token"), amqp]);
}
