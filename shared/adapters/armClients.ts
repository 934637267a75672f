import { readFileSync } from "node:fs";
import type { TokenCredential } from "@azure/core-auth";
import type { ComputeManagementClient } from "@azure/arm-compute";
import type { ImageBuilderClient as ImageBuilderSdkClient } from "@azure/arm-imagebuilder";
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import type { Settings } from "../config/settings.js";
import { ConfigurationError } from "../errors.js";
import { armPacers, armPacingPolicy, type ArmRequestKind, type RequestPacer } from "./armPacing.js";
import { isLoopback } from "./loopback.js";

/** The token the local ARM emulator accepts; never sent anywhere but a loopback endpoint. */
class EmulatorCredential implements TokenCredential {
  async getToken() {
    return { token: "local-emulator", expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

/**
 * Builds the ARM SDK clients once per process (one per subscription), all sharing one credential and one set of
 * pacers, so that the process as a whole stays under its share of ARM's limits (and, reading ARM's remaining-tokens
 * headers, under the subscription's whatever the number of instances). The SDKs are loaded on first use: the webhook never needs them.
 */
export class ArmClients {
  private credential?: Promise<TokenCredential>;
  private readonly compute = new Map<string, Promise<ComputeManagementClient>>();
  private readonly imageBuilder = new Map<string, Promise<ImageBuilderSdkClient>>();
  private resourceGraphClient?: Promise<ResourceGraphClient>;
  private readonly pacers: Record<ArmRequestKind, RequestPacer>;

  constructor(private readonly settings: Settings) {
    if (settings.ARM_AUTH === "emulator" && !isLoopback(settings.ARM_ENDPOINT)) {
      throw new ConfigurationError(`ARM_AUTH=emulator is only allowed with a loopback ARM_ENDPOINT`);
    }
    this.pacers = armPacers({
      readsPerSecond: settings.ARM_MAX_READS_PER_SECOND,
      writesPerSecond: settings.ARM_MAX_WRITES_PER_SECOND,
    });
  }

  private baseOptions() {
    const ca = this.settings.ARM_CA_CERT_PATH ? readFileSync(this.settings.ARM_CA_CERT_PATH, "utf8") : undefined;
    return {
      endpoint: this.settings.ARM_ENDPOINT,
      ...(ca ? { tlsOptions: { ca } } : {}),
      retryOptions: { maxRetries: 4 },
      userAgentOptions: { userAgentPrefix: "image-pipeline" },
    };
  }

  private options() {
    return {
      ...this.baseOptions(),
      additionalPolicies: [{ policy: armPacingPolicy(this.pacers), position: "perRetry" as const }],
    };
  }

  private getCredential(): Promise<TokenCredential> {
    this.credential ??=
      this.settings.ARM_AUTH === "emulator"
        ? Promise.resolve(new EmulatorCredential())
        : import("@azure/identity").then(
            ({ DefaultAzureCredential }) =>
              new DefaultAzureCredential(
                this.settings.AZURE_CLIENT_ID ? { managedIdentityClientId: this.settings.AZURE_CLIENT_ID } : {},
              ),
          );
    return this.credential;
  }

  computeFor(subscriptionId: string): Promise<ComputeManagementClient> {
    let client = this.compute.get(subscriptionId);
    if (!client) {
      client = Promise.all([import("@azure/arm-compute"), this.getCredential()]).then(
        ([{ ComputeManagementClient }, credential]) =>
          new ComputeManagementClient(credential, subscriptionId, this.options()),
      );
      this.compute.set(subscriptionId, client);
    }
    return client;
  }

  /**
   * The Resource Graph client (tenant level: one for every subscription). Not paced by ARM's buckets: Resource Graph
   * has its own per-user quota, which its adapter follows from the answers' headers.
   */
  resourceGraph(): Promise<ResourceGraphClient> {
    this.resourceGraphClient ??= Promise.all([import("@azure/arm-resourcegraph"), this.getCredential()]).then(
      ([{ ResourceGraphClient }, credential]) => new ResourceGraphClient(credential, this.baseOptions()),
    );
    return this.resourceGraphClient;
  }

  imageBuilderFor(subscriptionId: string): Promise<ImageBuilderSdkClient> {
    let client = this.imageBuilder.get(subscriptionId);
    if (!client) {
      client = Promise.all([import("@azure/arm-imagebuilder"), this.getCredential()]).then(
        ([{ ImageBuilderClient }, credential]) => new ImageBuilderClient(credential, subscriptionId, this.options()),
      );
      this.imageBuilder.set(subscriptionId, client);
    }
    return client;
  }
}
