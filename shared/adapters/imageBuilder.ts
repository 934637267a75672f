import type {
  ImageTemplate,
  ImageTemplateCustomizerUnion,
  ImageTemplateInVMValidatorUnion,
  ImageTemplateSharedImageDistributor,
  ImageTemplateSourceUnion,
} from "@azure/arm-imagebuilder";
import type { CatalogCustomizer, CatalogSource, CatalogValidator } from "../catalog/schema.js";
import type { ImageBuilderClient, ImageTemplateSpec, TemplateSummary } from "../ports.js";
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
          // While a run is in progress Azure answers 0001-01-01T00:00:00Z: no end yet.
          endTime:
            t.lastRunStatus.endTime && t.lastRunStatus.endTime.getTime() > 0 ? t.lastRunStatus.endTime : undefined,
        }
      : undefined,
    sourceExactVersion: source?.exactVersion,
    exactStagingResourceGroup: t.exactStagingResourceGroup || undefined,
  };
}

/*
 * The catalog's steps use Image Builder's field names, so they map 1:1. `satisfies` makes the compiler check each
 * catalog shape against the SDK's model: a field the SDK renames or drops breaks the build, not a run.
 */
function toSdkSource(source: CatalogSource): ImageTemplateSourceUnion {
  switch (source.type) {
    case "PlatformImage": {
      const { type, publisher, offer, sku, version, planInfo } = source;
      return {
        type,
        publisher,
        offer,
        sku,
        version,
        ...(planInfo ? { planInfo } : {}),
      } satisfies ImageTemplateSourceUnion;
    }
    case "SharedImageVersion":
      return { type: source.type, imageVersionId: source.imageVersionId } satisfies ImageTemplateSourceUnion;
    case "ManagedImage":
      return { type: source.type, imageId: source.imageId } satisfies ImageTemplateSourceUnion;
  }
}

function toSdkCustomizer(step: CatalogCustomizer): ImageTemplateCustomizerUnion {
  switch (step.type) {
    case "Shell":
    case "PowerShell":
    case "File":
    case "WindowsRestart":
    case "WindowsUpdate":
      return { ...step } satisfies ImageTemplateCustomizerUnion;
  }
}

function toSdkValidator(step: CatalogValidator): ImageTemplateInVMValidatorUnion {
  return { ...step } satisfies ImageTemplateInVMValidatorUnion;
}

/** The SDK model of a template spec (the SDK flattens the wire format's `properties`). */
export function toSdkTemplate(spec: ImageTemplateSpec): ImageTemplate {
  const template: ImageTemplate = {
    location: spec.location,
    tags: spec.tags,
    identity: { type: "UserAssigned", userAssignedIdentities: { [spec.identityId]: {} } },
    source: toSdkSource(spec.source),
    distribute: spec.distribute.map(
      (d) =>
        ({
          type: d.type,
          galleryImageId: d.galleryImageId,
          runOutputName: d.runOutputName,
          artifactTags: d.artifactTags,
          targetRegions: d.targetRegions,
          excludeFromLatest: d.excludeFromLatest,
          replicationMode: d.replicationMode,
        }) satisfies ImageTemplateSharedImageDistributor,
    ),
    vmProfile: spec.vmProfile,
    buildTimeoutInMinutes: spec.buildTimeoutInMinutes,
    errorHandling: spec.errorHandling,
    managedResourceTags: spec.managedResourceTags,
  };
  if (spec.customize.length > 0) template.customize = spec.customize.map(toSdkCustomizer);
  if (spec.validate) {
    template.validate = {
      continueDistributeOnFailure: spec.validate.continueDistributeOnFailure,
      sourceValidationOnly: spec.validate.sourceValidationOnly,
      inVMValidations: spec.validate.inVMValidations.map(toSdkValidator),
    };
  }
  if (spec.stagingResourceGroupId) template.stagingResourceGroup = spec.stagingResourceGroupId;
  return template;
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

  async createTemplate(subscriptionId: string, resourceGroup: string, name: string, template: ImageTemplateSpec) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    // Submitted only: waiting would cost an operation poll and a final GET; watchBuild reads the template anyway
    // and runs it once provisioned.
    await armCall(`create image template ${name}`, () =>
      client.virtualMachineImageTemplates.createOrUpdate(resourceGroup, name, toSdkTemplate(template)).submitted(),
    );
  }

  async updateTemplateTags(subscriptionId: string, resourceGroup: string, name: string, tags: Record<string, string>) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    // Tags apply when ARM accepts the PATCH; its operation is not awaited (nothing reads its result).
    await armCall(`update tags of image template ${name}`, () =>
      client.virtualMachineImageTemplates.update(resourceGroup, name, { tags }).submitted(),
    );
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

  async deleteTemplate(subscriptionId: string, resourceGroup: string, name: string) {
    const client = await this.clients.imageBuilderFor(subscriptionId);
    try {
      await client.virtualMachineImageTemplates.delete(resourceGroup, name).submitted();
    } catch (error) {
      if (!isNotFound(error)) await armCall(`delete image template ${name}`, () => Promise.reject(error));
    }
  }
}
