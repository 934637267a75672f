import type { ModelBindingData, ResourceFactory } from "@azure/functions-extensions-base";
import { ResourceFactoryResolver } from "./extensionsBase.js";
import type { ServiceBusMessageActions, ServiceBusMessageContext } from "./definitions.js";

/**
 * The source the Functions host names in the model binding data of an `sdkBinding` Service Bus trigger, and the key
 * under which `@azure/functions` looks up the factory that turns that data into a {@link ServiceBusMessageContext}.
 */
export const serviceBusBindingSource = "AzureServiceBusReceivedMessage";

// Imported by name at run time because its package points TypeScript at its uncompiled sources.
// (`npm run build` rewrites this import to a literal: keep its shape, scripts/bundle.ts checks it.)
const serviceBusExtension = "@azure/functions-extensions-servicebus";

/**
 * The model binding of one trigger invocation, kept as the host sent it until the Service Bus extension is loaded.
 *
 * `@azure/functions` converts trigger data synchronously, before the handler runs, through the factory registered for
 * {@link serviceBusBindingSource}. The extension that provides the real factory pulls gRPC, protobuf and AMQP
 * libraries in: about 100 ms of every cold start, which the webhook and the timers never need. So the app registers a
 * factory of its own that only wraps the data, and the queue handler finishes the conversion on its first message.
 */
export class DeferredServiceBusBinding {
  constructor(
    /** What the host sent: the AMQP message with its lock token (one, or a batch). */
    readonly modelBindingData: ModelBindingData | ModelBindingData[],
  ) {}
}

let extensionFactory: ResourceFactory | undefined;
let loading: Promise<ResourceFactory> | undefined;
const deferring = new WeakSet<ResourceFactoryResolver>();

/**
 * Registers the deferring factory for {@link serviceBusBindingSource} and claims the registration the Service Bus
 * extension makes when it is imported later. The resolver has no way to replace a factory (the `unregister` its types
 * declare is missing from its code), and the extension skips registering when a factory exists; so, for that one
 * source only, this resolver instance hands the extension's factory to this module instead of refusing it.
 * Idempotent; must run before the first invocation, i.e. at app start.
 */
export function deferServiceBusBinding(
  resolver: ResourceFactoryResolver = ResourceFactoryResolver.getInstance(),
): void {
  if (deferring.has(resolver)) return;
  deferring.add(resolver);
  const register = resolver.registerResourceFactory.bind(resolver);
  const has = resolver.hasResourceFactory.bind(resolver);
  register(serviceBusBindingSource, (data) => new DeferredServiceBusBinding(data));
  resolver.hasResourceFactory = (type) =>
    type === serviceBusBindingSource ? extensionFactory !== undefined : has(type);
  resolver.registerResourceFactory = (type, factory) => {
    if (type === serviceBusBindingSource && extensionFactory === undefined) extensionFactory = factory;
    else register(type, factory);
  };
}

/** Loads the Service Bus extension once and returns the factory it registered. */
function loadExtensionFactory(): Promise<ResourceFactory> {
  loading ??= (async () => {
    await import(serviceBusExtension);
    if (!extensionFactory) {
      throw new Error(
        `${serviceBusExtension} registered no factory for ${serviceBusBindingSource}: was deferServiceBusBinding called at start?`,
      );
    }
    return extensionFactory;
  })();
  loading.catch(() => (loading = undefined));
  return loading;
}

/**
 * A `google.protobuf.StringValue` as grpc-js serializes it. The extension (0.2.0-preview) puts the dead-letter reason
 * and description into its settlement request as plain strings, where its own settlement.proto declares StringValue
 * wrappers: grpc-js then refuses the request ("deadletterReason: object expected"), so a dead-letter with a reason
 * never reaches the host. test/functions/serviceBusBinding.test.ts checks what the host receives, against a real gRPC
 * server: it fails the day the extension wraps the strings itself.
 */
function stringValue(value: string | undefined): string | undefined {
  return value === undefined ? undefined : ({ value } as unknown as string);
}

/** The extension's settlement actions, with the dead-letter reason and description in the shape its proto wants. */
function settlementOf(actions: ServiceBusMessageActions): ServiceBusMessageActions {
  return {
    complete: (message) => actions.complete(message),
    abandon: (message, properties) => actions.abandon(message, properties),
    deadletter: (message, properties, reason, description) =>
      actions.deadletter(message, properties, stringValue(reason), stringValue(description)),
    defer: (message, properties) => actions.defer(message, properties),
    renewMessageLock: (message) => actions.renewMessageLock(message),
  };
}

/**
 * The trigger input of an `sdkBinding` queue function as a {@link ServiceBusMessageContext}: a deferred binding is
 * converted by the Service Bus extension (loaded on the first one); a context built already (by the local host) is
 * returned as it is.
 */
export async function resolveServiceBusContext(
  input: ServiceBusMessageContext | DeferredServiceBusBinding,
): Promise<ServiceBusMessageContext> {
  if (!(input instanceof DeferredServiceBusBinding)) return input;
  const factory = await loadExtensionFactory();
  const context = factory(input.modelBindingData) as ServiceBusMessageContext;
  return { messages: context.messages, actions: settlementOf(context.actions) };
}
