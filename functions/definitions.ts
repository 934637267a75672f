import type {
  HttpFunctionOptions,
  InvocationContext,
  ServiceBusQueueFunctionOptions,
  TimerFunctionOptions,
} from "@azure/functions";
import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import type { DeferredServiceBusBinding } from "./serviceBusBinding.js";

/**
 * One function of the app, as `app.http` / `app.timer` / `app.serviceBusQueue` take it. The Azure entry point
 * (`functions/index.ts`) and the local host both read the same table of these.
 */
export type FunctionDefinition =
  | { trigger: "http"; name: string; options: HttpFunctionOptions }
  | { trigger: "timer"; name: string; options: TimerFunctionOptions }
  | { trigger: "serviceBusQueue"; name: string; options: ServiceBusQueueFunctionOptions };

/**
 * Explicit settlement, as `@azure/functions-extensions-servicebus` exposes it to functions registered with
 * `sdkBinding: true` and `autoCompleteMessages: false` (the only way a Node function can dead-letter a message
 * at once). The local host implements the same calls on a real `@azure/service-bus` receiver.
 */
export interface ServiceBusMessageActions {
  complete(message: ServiceBusReceivedMessage): Promise<void>;
  abandon(message: ServiceBusReceivedMessage, propertiesToModify?: Uint8Array): Promise<void>;
  deadletter(
    message: ServiceBusReceivedMessage,
    propertiesToModify?: Uint8Array,
    deadletterReason?: string,
    deadletterErrorDescription?: string,
  ): Promise<void>;
  defer(message: ServiceBusReceivedMessage, propertiesToModify?: Uint8Array): Promise<void>;
  renewMessageLock(message: ServiceBusReceivedMessage): Promise<void>;
}

/** What an `sdkBinding` Service Bus function receives as its trigger input. */
export interface ServiceBusMessageContext {
  messages: ServiceBusReceivedMessage | ServiceBusReceivedMessage[];
  actions: ServiceBusMessageActions;
}

/**
 * Handler of an `sdkBinding` queue function: in Azure its input is deferred until the Service Bus extension is loaded
 * (functions/serviceBusBinding.ts); the local host passes a context it built itself.
 */
export type SdkBoundQueueHandler = (
  input: ServiceBusMessageContext | DeferredServiceBusBinding,
  context: InvocationContext,
) => Promise<void>;
