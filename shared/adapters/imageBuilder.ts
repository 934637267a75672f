import type { ImageTemplate } from "@azure/arm-imagebuilder";
import type { ImageBuilderClient, TemplateSummary } from "../ports.js";
import type { ArmClients } from "./armClients.js";
import { armCall, armGet, isNotFound } from "./armErrors.js";

function toSummary(t: ImageTemplate): TemplateSummary {
  const source = t.source as { exactVersion?: string } | undefined;
  return {
    name: t.name ?? "",
    location: t.location,
    tags: t.tags ?? {},
    provisioningState: t.provisioningState,
    provisioningErrorMessage: t.provisioningError?.message,
    lastRunStatus: t.lastRunStatus
      ? {
          runState: t.lastRunStatus.runState,
          runSubState: t.lastRunStatus.runSubState,
          message: t.lastRunStatus.message,
          startTime: t.lastRunStatus.startTime,
          endTime: t.lastRunStatus.endTime,
        }
      : undefined,
    sourceExactVersion: source?.exactVersion,
    runOutputNames: (t.distribute ?? []).map((d) => d.runOutputName),
  };
}

/** {@link ImageBuilderClient} on `@azure/arm-imagebuilder`. */
export class ArmImageBuilderClient implements ImageBuilderClient {
  constructor(private readonly clients: ArmClients) {}

  async getTemplate(subscriptionId: string, resourceGroup: string, name: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    const t = await armGet(`read image template ${name}`, () =>
      client.virtualMachineImageTemplates.get(resourceGroup, name),
    );
    return t ? toSummary(t) : undefined;
  }

  async listTemplates(subscriptionId: string, resourceGroup: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    const templates: TemplateSummary[] = [];
    try {
      for await (const t of client.virtualMachineImageTemplates.listByResourceGroup(resourceGroup)) {
        templates.push(toSummary(t));
      }
    } catch (error) {
      if (isNotFound(error)) return [];
      return armCall("list image templates", () => Promise.reject(error));
    }
    return templates;
  }

  async createTemplate(subscriptionId: string, resourceGroup: string, name: string, template: ImageTemplate) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    const created = await armCall(`create image template ${name}`, () =>
      client.virtualMachineImageTemplates.createOrUpdate(resourceGroup, name, template),
    );
    return toSummary(created);
  }

  async runTemplate(subscriptionId: string, resourceGroup: string, name: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    await armCall(`run image template ${name}`, () =>
      client.virtualMachineImageTemplates.run(resourceGroup, name).submitted(),
    );
  }

  async cancelRun(subscriptionId: string, resourceGroup: string, name: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    await armCall(`cancel run of image template ${name}`, () =>
      client.virtualMachineImageTemplates.cancel(resourceGroup, name).submitted(),
    );
  }

  async getRunOutput(subscriptionId: string, resourceGroup: string, name: string, runOutputName: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    const output = await armGet(`read run output ${runOutputName}`, () =>
      client.virtualMachineImageTemplates.getRunOutput(resourceGroup, name, runOutputName),
    );
    return output ? { artifactId: output.artifactId, artifactUri: output.artifactUri } : undefined;
  }

  async deleteTemplate(subscriptionId: string, resourceGroup: string, name: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    try {
      await client.virtualMachineImageTemplates.delete(resourceGroup, name).submitted();
    } catch (error) {
      if (!isNotFound(error)) await armCall(`delete image template ${name}`, () => Promise.reject(error));
    }
  }
}
