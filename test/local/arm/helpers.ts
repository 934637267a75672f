import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ImageBuilderClient } from "@azure/arm-imagebuilder";
import { ResourceGraphClient } from "@azure/arm-resourcegraph";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  RestError,
  type HttpMethods,
} from "@azure/core-rest-pipeline";
import { startArmEmulator, type ArmEmulator } from "../../../local/arm/index.js";

export const subscriptionId = "11111111-2222-3333-4444-555555555555";

/** Any bearer token will do: the emulator only checks that one is sent. */
export const stubCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "stub-token", expiresOnTimestamp: Date.now() + 3600_000 }),
};

export interface Harness {
  emulator: ArmEmulator;
  stateDir: string;
  compute: ComputeManagementClient;
  imageBuilder: ImageBuilderClient;
  resourceGraph: ResourceGraphClient;
  admin: <T = Record<string, unknown>>(method: HttpMethods, adminPath: string, body?: unknown) => Promise<T>;
  /** Creates a resource group through ARM (PUT), as `az group create` does. */
  resourceGroup: (name: string, location?: string) => Promise<void>;
  /** Creates a user-assigned identity through ARM and returns its id and principal id. */
  identity: (rg: string, name: string, location?: string) => Promise<{ id: string; principalId: string }>;
  /** A raw ARM call without the SDK (for auth tests). */
  raw: (
    method: HttpMethods,
    armPath: string,
    options?: { token?: string; body?: unknown },
  ) => Promise<{ status: number; headers: Record<string, string>; body: unknown }>;
  stop: () => Promise<void>;
}

export function clientsFor(emulator: ArmEmulator): {
  compute: ComputeManagementClient;
  imageBuilder: ImageBuilderClient;
  resourceGraph: ResourceGraphClient;
} {
  const options = { endpoint: emulator.endpoint, tlsOptions: { ca: emulator.caCertPem } };
  return {
    compute: new ComputeManagementClient(stubCredential, subscriptionId, options),
    imageBuilder: new ImageBuilderClient(stubCredential, subscriptionId, options),
    // Retries off: the rules' tests read each answer as Azure gave it (429s and 5xx included).
    resourceGraph: new ResourceGraphClient(stubCredential, { ...options, retryOptions: { maxRetries: 0 } }),
  };
}

/**
 * Near-zero durations so suites run fast, and ARM throttling switched off explicitly (the tests poll every few
 * milliseconds); tests that watch progress or throttling set their own.
 */
export const fastConfig = {
  operationDurationInMs: 0,
  deleteDurationInMs: 0,
  replication: { regionDurationInMs: 30 },
  imageBuilder: {
    phaseDurationsInMs: { Queued: 10, Building: 10, Customizing: 10, Optimizing: 10, Validating: 10, Distributing: 10 },
    cancelDurationInMs: 10,
  },
  throttling: { enabled: false },
  resourceGraph: { quota: { enabled: false } },
};

export async function startHarness(stateDir?: string): Promise<Harness> {
  const dir = stateDir ?? (await mkdtemp(path.join(os.tmpdir(), "arm-emulator-")));
  const emulator = await startArmEmulator({ stateDir: dir, port: 0 });
  const pipeline = createPipelineFromOptions({
    tlsOptions: { ca: emulator.caCertPem },
    retryOptions: { maxRetries: 0 },
  });
  const httpClient = createDefaultHttpClient();
  const send = async (method: HttpMethods, url: string, headers: Record<string, string>, body?: unknown) => {
    const request = createPipelineRequest({
      url,
      method,
      headers: createHttpHeaders({ "content-type": "application/json", ...headers }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const response = await pipeline.sendRequest(httpClient, request);
    const text = response.bodyAsText ?? "";
    const json = (response.headers.get("content-type") ?? "").includes("json");
    return {
      status: response.status,
      headers: response.headers.toJSON(),
      body: text ? (json ? (JSON.parse(text) as unknown) : text) : undefined,
    };
  };
  const { compute, imageBuilder, resourceGraph } = clientsFor(emulator);
  return {
    emulator,
    stateDir: dir,
    compute,
    imageBuilder,
    resourceGraph,
    admin: async <T>(method: HttpMethods, adminPath: string, body?: unknown) => {
      const response = await send(method, `${emulator.endpoint}/_emulator/${adminPath}`, {}, body);
      if (response.status >= 300)
        throw new Error(`admin ${method} ${adminPath}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body as T;
    },
    resourceGroup: async (name, location = "westeurope") => {
      const response = await send(
        "PUT",
        `${emulator.endpoint}/subscriptions/${subscriptionId}/resourcegroups/${name}?api-version=2022-09-01`,
        { authorization: "Bearer stub-token" },
        { location },
      );
      if (response.status >= 300) throw new Error(`resource group ${name}: ${response.status}`);
    },
    identity: async (rg, name, location = "westeurope") => {
      const response = await send(
        "PUT",
        `${emulator.endpoint}/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=2023-01-31`,
        { authorization: "Bearer stub-token" },
        { location },
      );
      const body = response.body as { id: string; properties: { principalId: string } };
      if (response.status >= 300) throw new Error(`identity ${name}: ${response.status} ${JSON.stringify(body)}`);
      return { id: body.id, principalId: body.properties.principalId };
    },
    raw: (method, armPath, options = {}) =>
      send(
        method,
        `${emulator.endpoint}${armPath}`,
        options.token ? { authorization: `Bearer ${options.token}` } : {},
        options.body,
      ),
    stop: async () => {
      await emulator.stop();
      if (!stateDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Awaits a long-running operation expected to fail and returns `{code, message}` from the SDK's error. */
export async function lroFailureOf(poller: PromiseLike<unknown>): Promise<{ code: string; message: string }> {
  try {
    await poller;
  } catch (error) {
    const text = (error as Error).message;
    const match = /^The long-running operation has failed\. ([^.]+)\. ([\s\S]*)$/.exec(text);
    if (match) return { code: match[1]!, message: match[2]! };
    throw error;
  }
  throw new Error("expected the long-running operation to fail, but it succeeded");
}

/** Runs `action` and returns the RestError it throws (fails the test if it does not). */
export async function restErrorOf(action: () => Promise<unknown>): Promise<RestError> {
  try {
    await action();
  } catch (error) {
    if (error instanceof RestError) return error;
    throw error;
  }
  throw new Error("expected a RestError, but the call succeeded");
}

export const poll = { updateIntervalInMs: 5 };

export const linuxDefinition = {
  location: "westeurope",
  osType: "Linux" as const,
  osState: "Generalized" as const,
  hyperVGeneration: "V2" as const,
  identifier: { publisher: "contoso", offer: "golden", sku: "ubuntu-24_04" },
};

export function managedImageId(rg: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/images/${name}`;
}
