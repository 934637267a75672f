import { createHash, randomUUID } from "node:crypto";
import type { PhaseDurations } from "./config.js";
import { ArmError, imageBuilderValidationFailed, resourceNotFound } from "./errors.js";
import {
  apiVersionAtLeast,
  asObject,
  bodyObject,
  isoTime,
  listOfType,
  lroHeaders,
  ok,
  page,
  plainProvisioningState,
  provisioningTimes,
  requireResourceGroupForRead,
  requireResourceGroupForWrite,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { platformImageSets, platformImageVersions, writeManagedImage } from "./compute.js";
import { imageVersionType, resolveLatest, securityTypeOf, trustedLaunchCapableTypes, writeVersion } from "./gallery.js";
import { compareVersionNames, globMatches, parseVersionName, sameRegion } from "./names.js";
import {
  builtInRoles,
  hasRoleAt,
  onResourceRemovedWithGroup,
  removeGroupContents,
  roleAssignmentType,
  writePlainResource,
  writeRoleAssignment,
} from "./resources.js";
import {
  distributingStartMs,
  isTerminalRunState,
  runPhases,
  runStatus,
  versionStatus,
  type DistributionOutcome,
  type TemplateRun,
} from "./simulation.js";
import type { RunOutput, Store, StoredResource } from "./store.js";

export const templateType = "Microsoft.VirtualMachineImages/imageTemplates";
const namePattern = /^[A-Za-z0-9-_.]{1,64}$/;
const unsetEndTime = "0001-01-01T00:00:00Z";

export function templateId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/${templateType}/${name}`;
}

/** Image Builder answers with `resourcegroups` in lower case in its ids (recorded answers). */
function templateViewId(t: StoredResource): string {
  return t.id.replace(/\/resourceGroups\//i, "/resourcegroups/");
}

const isProvisioned = (t: StoredResource, nowMs: number) =>
  plainProvisioningState(t, nowMs) === "Succeeded" || plainProvisioningState(t, nowMs) === "Failed";

// ---------------------------------------------------------------- views

function identityView(store: Store, t: StoredResource, provisioned: boolean): unknown {
  const identity = t.identity ?? {};
  if (identity["type"] === "None") return { type: "None" };
  const assigned = asObject(identity["userAssignedIdentities"]);
  return {
    ...identity,
    userAssignedIdentities: Object.fromEntries(
      Object.keys(assigned).map((k) => {
        const resource = store.get(k);
        return [
          k,
          provisioned && resource
            ? { principalId: resource.properties["principalId"], clientId: resource.properties["clientId"] }
            : {},
        ];
      }),
    ),
  };
}

function lastRunStatusView(run: TemplateRun, nowMs: number): Record<string, unknown> {
  const rs = runStatus(run, nowMs);
  return {
    startTime: isoTime(rs.startMs),
    endTime: rs.endMs !== undefined ? isoTime(rs.endMs) : unsetEndTime,
    runState: rs.runState,
    ...(rs.runSubState !== undefined && rs.runState !== "Succeeded" && rs.runState !== "Canceling"
      ? { runSubState: rs.runSubState }
      : {}),
    message: rs.message,
  };
}

/** Image Builder fills in the checksum of the scripts it downloaded; the emulator cannot download, so it hashes the URI. */
function placeholderChecksum(uri: string): string {
  return createHash("sha256").update(uri).digest("hex");
}

/** Until the template provisioned, `exactVersion` echoes the version asked for ("latest" included); then the resolved one. */
function sourceView(source: Record<string, unknown>, provisioned: boolean): Record<string, unknown> {
  if (provisioned || source["exactVersion"] === undefined) return source;
  const given = source["type"] === "SharedImageVersion" ? source["imageVersionId"] : source["version"];
  return given === undefined ? source : { ...source, exactVersion: given };
}

function stepsView(steps: unknown, provisioned: boolean): unknown {
  if (!Array.isArray(steps)) return steps;
  return steps.map((raw) => {
    const step = { ...asObject(raw) };
    const uri = step["scriptUri"] ?? step["sourceUri"];
    if (step["sha256Checksum"] === "" || step["sha256Checksum"] === undefined) {
      delete step["sha256Checksum"];
      if (provisioned && typeof uri === "string") step["sha256Checksum"] = placeholderChecksum(uri);
    }
    // Azure answers a WindowsRestart step without restartCommand with an empty one (test_image_builder_customizers).
    if (step["type"] === "WindowsRestart" && step["restartCommand"] === undefined) step["restartCommand"] = "";
    return step;
  });
}

export function templateView(store: Store, t: StoredResource, apiVersion?: string): unknown {
  const nowMs = store.now();
  const provisioned = isProvisioned(t, nowMs);
  const props = t.properties;
  const modernVersioning = apiVersionAtLeast(apiVersion ?? t.apiVersion, "2023-07-01");
  const distribute = (Array.isArray(props["distribute"]) ? (props["distribute"] as unknown[]) : []).map((raw) => {
    const d = { ...asObject(raw) };
    if (d["type"] === "SharedImage" && (!modernVersioning || d["versioning"] === undefined)) {
      d["versioning"] = modernVersioning ? d["versioning"] : null;
      if (d["versioning"] === undefined) delete d["versioning"];
    }
    return { artifactTags: {}, ...d };
  });
  const failure = t.provisioningFailure;
  const state = plainProvisioningState(t, nowMs);
  const properties: Record<string, unknown> = {
    ...props,
    ...(props["source"] !== undefined ? { source: sourceView(asObject(props["source"]), provisioned) } : {}),
    ...(props["customize"] !== undefined ? { customize: stepsView(props["customize"], provisioned) } : {}),
    ...(props["validate"] !== undefined
      ? {
          validate: {
            ...asObject(props["validate"]),
            ...(asObject(props["validate"])["inVMValidations"] !== undefined
              ? { inVMValidations: stepsView(asObject(props["validate"])["inVMValidations"], provisioned) }
              : {}),
          },
        }
      : {}),
    distribute,
    provisioningState: state,
    ...(state === "Failed" && failure
      ? {
          provisioningError: {
            provisioningErrorCode: failure.provisioningErrorCode ?? "Other",
            message: failure.message,
          },
        }
      : {}),
    ...(t.lastRun ? { lastRunStatus: lastRunStatusView(t.lastRun, nowMs) } : {}),
    buildTimeoutInMinutes: props["buildTimeoutInMinutes"] ?? 0,
    vmProfile: { vmSize: "", osDiskSizeGB: 0, ...asObject(props["vmProfile"]) },
    stagingResourceGroup: props["stagingResourceGroup"] ?? "",
    exactStagingResourceGroup: provisioned && !failure ? (t.stagingResourceGroupId ?? "") : "",
  };
  return {
    properties,
    identity: identityView(store, t, provisioned),
    ...(t.tags ? { tags: t.tags } : {}),
    location: t.location,
    id: templateViewId(t),
    name: t.name,
    type: templateType,
  };
}

// ---------------------------------------------------------------- source facts

/** What Image Builder knows about the source at submission: OS, Hyper-V generation, security type. */
interface SourceFacts {
  osType?: "Linux" | "Windows";
  hyperVGeneration?: string;
  /** undefined = not known (a managed image carries no security type). */
  securityType?: string;
  exactVersion?: string;
  /** `VMImageBuilderSource` tag value of outputs. */
  description: string;
  found: boolean;
  osDiskSizeGB?: number;
}

function platformFacts(store: Store, location: string, source: Record<string, unknown>): SourceFacts {
  const [publisher, offer, sku] = ["publisher", "offer", "sku"].map((f) => String(source[f]));
  const versions = platformImageVersions(store, location, publisher!, offer!, sku!);
  const wanted = String(source["version"] ?? "latest");
  const exact = wanted.toLowerCase() === "latest" ? versions[versions.length - 1] : versions.find((v) => v === wanted);
  const set = platformImageSets(store, location, publisher!, offer!, sku!).find(
    (s) => exact && s.versions.includes(exact),
  );
  const windows = set?.osType ? set.osType === "Windows" : publisher!.toLowerCase().startsWith("microsoftwindows");
  const feature = set?.features?.find((f) => f.name.toLowerCase() === "securitytype");
  return {
    osType: windows ? "Windows" : "Linux",
    hyperVGeneration: set?.hyperVGeneration ?? "V1",
    securityType: feature?.value ?? "Standard",
    exactVersion: exact,
    description: `PlatformImage ${publisher}::${offer}::${sku}::${exact ?? wanted}`,
    found: exact !== undefined,
    osDiskSizeGB: set?.osDiskSizeInBytes ? Math.ceil(set.osDiskSizeInBytes / 1024 ** 3) : undefined,
  };
}

function sourceFacts(store: Store, location: string, source: Record<string, unknown>): SourceFacts {
  switch (source["type"]) {
    case "PlatformImage":
      return platformFacts(store, location, source);
    case "ManagedImage": {
      const id = String(source["imageId"]);
      const image = store.get(id);
      const osDisk = asObject(asObject(image?.properties["storageProfile"])["osDisk"]);
      return {
        osType: osDisk["osType"] === "Windows" ? "Windows" : image ? "Linux" : undefined,
        hyperVGeneration: image ? String(image.properties["hyperVGeneration"] ?? "V1") : undefined,
        description: `ManagedImage ${id}`,
        found: image !== undefined,
        osDiskSizeGB: typeof osDisk["diskSizeGB"] === "number" ? osDisk["diskSizeGB"] : undefined,
      };
    }
    case "SharedImageVersion": {
      const id = String(source["imageVersionId"]);
      const isLatest = /\/versions\/latest$/i.test(id);
      const definitionId = id.replace(/\/versions\/[^/]+$/i, "");
      const version = isLatest ? resolveLatest(store, definitionId, location) : store.get(id);
      const definition = store.get(definitionId);
      const dProps = definition?.properties ?? {};
      return {
        osType: definition ? (dProps["osType"] === "Windows" ? "Windows" : "Linux") : undefined,
        hyperVGeneration: definition ? String(dProps["hyperVGeneration"] ?? "V1") : undefined,
        securityType: definition ? securityTypeOf(dProps) : undefined,
        exactVersion: version?.id,
        description: `SharedImageVersion ${version?.id ?? id}`,
        found: version !== undefined,
        osDiskSizeGB: Number(
          asObject(asObject(version?.properties["storageProfile"])["osDiskImage"])["sizeInGB"] ?? 30,
        ),
      };
    }
    default:
      return { description: "", found: false };
  }
}

// ---------------------------------------------------------------- validation at submission

const fail = imageBuilderValidationFailed;

function validateSourceShape(source: Record<string, unknown>): void {
  const field = "ImageTemplate.properties.source";
  switch (source["type"]) {
    case "PlatformImage":
      for (const f of ["publisher", "offer", "sku"]) {
        if (typeof source[f] !== "string" || source[f] === "") throw fail(field, `Field '${f}' is required`);
      }
      return;
    case "ManagedImage":
      if (
        typeof source["imageId"] !== "string" ||
        !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/microsoft\.compute\/images\/[^/]+$/i.test(
          source["imageId"],
        )
      ) {
        throw fail(field, `Field 'imageId' has a bad value: '${String(source["imageId"] ?? "")}'`);
      }
      return;
    case "SharedImageVersion":
      if (
        typeof source["imageVersionId"] !== "string" ||
        !/\/providers\/microsoft\.compute\/galleries\/[^/]+\/images\/[^/]+\/versions\/[^/]+$/i.test(
          source["imageVersionId"],
        )
      ) {
        throw fail(field, `Field 'imageVersionId' has a bad value: '${String(source["imageVersionId"] ?? "")}'`);
      }
      return;
    default:
      throw fail(field, `Field 'type' has a bad value: '${String(source["type"] ?? "")}'`);
  }
}

const linuxOnly = ["Shell"];
const windowsOnly = ["PowerShell", "WindowsRestart", "WindowsUpdate"];

/** Customizer and validator shapes [I3] and their OS [I4]. */
function validateSteps(
  steps: unknown,
  field: string,
  allowed: string[],
  osType: "Linux" | "Windows" | undefined,
): void {
  if (steps === undefined || steps === null) return;
  if (!Array.isArray(steps)) throw fail(field, "Field must be an array");
  steps.forEach((raw, i) => {
    const step = asObject(raw);
    const at = `${field}[${i}]`;
    const type = String(step["type"] ?? "");
    if (!allowed.includes(type)) throw fail(at, `Field 'type' has a bad value: '${type}'`);
    if (type === "Shell" || type === "PowerShell") {
      const hasUri = typeof step["scriptUri"] === "string" && step["scriptUri"] !== "";
      const hasInline = Array.isArray(step["inline"]) && step["inline"].length > 0;
      if (hasUri === hasInline) {
        throw fail(at, `Exactly one of the fields 'scriptUri' and 'inline' must be set for a '${type}' customizer`);
      }
    }
    if (type === "File") {
      for (const f of ["sourceUri", "destination"]) {
        if (typeof step[f] !== "string" || step[f] === "") throw fail(at, `Field '${f}' is required`);
      }
    }
    if (osType === "Linux" && windowsOnly.includes(type)) {
      throw fail(at, `Customizer type '${type}' is not supported for a 'Linux' source image`);
    }
    if (osType === "Windows" && linuxOnly.includes(type)) {
      throw fail(at, `Customizer type '${type}' is not supported for a 'Windows' source image`);
    }
  });
}

/** The gallery image definition of a SharedImage distributor (`galleryImageId` with or without `/versions/x`). */
function targetDefinitionId(galleryImageId: string): string {
  return galleryImageId.replace(/\/versions\/[^/]+$/i, "");
}

function validateDistribute(store: Store, distribute: unknown, facts: SourceFacts | undefined): void {
  const field = "ImageTemplate.properties.distribute";
  if (!Array.isArray(distribute) || distribute.length === 0) throw fail(field, "Field 'distribute' is required");
  const names = new Set<string>();
  distribute.forEach((raw, i) => {
    const d = asObject(raw);
    const at = `${field}[${i}]`;
    const runOutputName = d["runOutputName"];
    if (typeof runOutputName !== "string" || !namePattern.test(runOutputName)) {
      throw fail(at, `Field 'runOutputName' has a bad value: '${String(runOutputName ?? "")}'`);
    }
    if (names.has(runOutputName.toLowerCase())) {
      throw fail(at, `Field 'runOutputName' has a duplicate value: '${runOutputName}'`);
    }
    names.add(runOutputName.toLowerCase());
    switch (d["type"]) {
      case "ManagedImage":
        if (
          typeof d["imageId"] !== "string" ||
          !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.compute\/images\/[^/]+$/i.test(
            d["imageId"],
          )
        ) {
          throw fail(at, `Field 'imageId' has a bad value: '${String(d["imageId"] ?? "")}'`);
        }
        if (typeof d["location"] !== "string" || d["location"] === "") throw fail(at, "Field 'location' is required");
        return;
      case "SharedImage": {
        const galleryImageId = d["galleryImageId"];
        if (
          typeof galleryImageId !== "string" ||
          !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.compute\/galleries\/[^/]+\/images\/[^/]+(\/versions\/[^/]+)?$/i.test(
            galleryImageId,
          )
        ) {
          throw fail(at, `Field 'galleryImageId' has a bad value: '${String(galleryImageId ?? "")}'`);
        }
        const version = /\/versions\/([^/]+)$/i.exec(galleryImageId)?.[1];
        if (version !== undefined && !parseVersionName(version)) {
          throw fail(at, `Field 'galleryImageId' has a bad version: '${version}'`);
        }
        const versioning = asObject(d["versioning"]);
        if (d["versioning"] !== undefined && d["versioning"] !== null) {
          if (versioning["scheme"] !== "Latest" && versioning["scheme"] !== "Source") {
            throw fail(at, `Field 'versioning.scheme' has a bad value: '${String(versioning["scheme"] ?? "")}'`);
          }
          const major = versioning["major"];
          if (major !== undefined && (typeof major !== "number" || !Number.isInteger(major) || major < -1)) {
            throw fail(at, `Field 'versioning.major' has a bad value: '${String(major)}'`);
          }
        }
        checkSharedImageTarget(store, galleryImageId, at, facts);
        return;
      }
      case "VHD":
        return;
      default:
        throw fail(at, `Field 'type' has a bad value: '${String(d["type"] ?? "")}'`);
    }
  });
}

/**
 * Security type [I7, I8] and Hyper-V generation [I9] of a SharedImage target against the source: image-builder-
 * overview.md ("Confidential VM and Trusted Launch Support", "Hyper-V generation").
 */
function checkSharedImageTarget(
  store: Store,
  galleryImageId: string,
  at: string,
  facts: SourceFacts | undefined,
): void {
  const definition = store.get(targetDefinitionId(galleryImageId));
  if (!definition) return;
  const targetType = securityTypeOf(definition.properties);
  if (targetType === "TrustedLaunch" || targetType === "ConfidentialVM") {
    throw fail(
      at,
      `The image definition '${definition.id}' has security type '${targetType}', which Image Builder does not ` +
        "support as a distribution target; use 'TrustedLaunchSupported' or 'ConfidentialVMSupported'",
    );
  }
  if (!facts?.found) return;
  const generation = String(definition.properties["hyperVGeneration"] ?? "V1");
  if (facts.hyperVGeneration && facts.hyperVGeneration !== generation) {
    throw new ArmError(
      400,
      "ValidationFailed",
      "Validation failed: Error with Hyper-V Version validation (cross-generation for multiple Hyper-V Versions is " +
        `not supported). The provided SIG: ${definition.id}, has a different Hyper-V Generation: ${generation}, ` +
        `than source image: ${facts.hyperVGeneration}.`,
    );
  }
  if (facts.securityType === undefined) return;
  const sourceCapable = trustedLaunchCapableTypes.includes(facts.securityType);
  const targetCapable = trustedLaunchCapableTypes.includes(targetType);
  if (generation === "V2" && sourceCapable !== targetCapable) {
    throw fail(
      at,
      `The source image has security type '${facts.securityType}' and the image definition '${definition.id}' has ` +
        `security type '${targetType}': the source and the distribution target must both be Trusted Launch ` +
        "capable (TrustedLaunchSupported), or both standard",
    );
  }
}

function validateTemplateBody(store: Store, name: string, body: Record<string, unknown>): SourceFacts | undefined {
  if (!namePattern.test(name)) throw fail("ImageTemplate.name", `Field 'name' has a bad value: '${name}'`);
  if (typeof body["location"] !== "string" || body["location"] === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  if (body["identity"] === undefined) throw fail("ImageTemplate", "Missing field 'identity'");
  const identity = asObject(body["identity"]);
  if (identity["type"] !== "UserAssigned") {
    throw fail("ImageTemplate.identity", `Field 'type' has a bad value: '${String(identity["type"] ?? "")}'`);
  }
  const identities = Object.keys(asObject(identity["userAssignedIdentities"]));
  if (identities.length !== 1) {
    throw fail("ImageTemplate.identity", "Exactly one user assigned identity is supported");
  }
  const identityResource = store.get(identities[0]!);
  if (!identityResource) {
    throw fail(
      "ImageTemplate.identity",
      `The user assigned identity '${identities[0]!}' was not found. Please check the identity exists`,
    );
  }
  const props = asObject(body["properties"]);
  if (props["source"] === undefined) throw fail("ImageTemplate.properties.source", "Field 'source' is required");
  const source = asObject(props["source"]);
  validateSourceShape(source);
  const facts = sourceFacts(store, String(body["location"]), source);
  // [I7] image-builder-overview.md: TrustedLaunch and ConfidentialVM images are "Not supported as a source image".
  if (facts.found && (facts.securityType === "TrustedLaunch" || facts.securityType === "ConfidentialVM")) {
    throw fail(
      "ImageTemplate.properties.source",
      `The source image has security type '${facts.securityType}', which Image Builder does not support as a source ` +
        "image; use a 'TrustedLaunchSupported' or 'ConfidentialVMSupported' image",
    );
  }
  const timeout = props["buildTimeoutInMinutes"];
  if (
    timeout !== undefined &&
    (typeof timeout !== "number" || !Number.isInteger(timeout) || (timeout !== 0 && (timeout < 6 || timeout > 960)))
  ) {
    throw fail(
      "ImageTemplate.properties.buildTimeoutInMinutes",
      `Field 'buildTimeoutInMinutes' has a bad value: '${String(timeout)}'. It must be 0 (the default of 240) or ` +
        "between 6 and 960",
    );
  }
  validateSteps(
    props["customize"],
    "ImageTemplate.properties.customize",
    ["Shell", "PowerShell", "File", "WindowsRestart", "WindowsUpdate"],
    facts.found ? facts.osType : undefined,
  );
  validateSteps(
    asObject(props["validate"])["inVMValidations"],
    "ImageTemplate.properties.validate.inVMValidations",
    ["Shell", "PowerShell", "File"],
    facts.found ? facts.osType : undefined,
  );
  validateDistribute(store, props["distribute"], facts);
  return facts;
}

/** Canonical JSON (sorted keys) so an identical re-PUT is recognised whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function comparableBody(body: Record<string, unknown>): string {
  return canonical({
    location: String(body["location"] ?? "").toLowerCase(),
    tags: body["tags"] ?? {},
    identity: body["identity"],
    properties: body["properties"],
  });
}

// ---------------------------------------------------------------- staging resource group

/** `/subscriptions/{s}/resourceGroups/{name}`, with or without the leading slash (both are accepted). */
function parseGroupId(value: string): { subscriptionId: string; name: string } | undefined {
  const match = /^\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/?$/i.exec(value);
  return match ? { subscriptionId: match[1]!, name: match[2]! } : undefined;
}

/** IT_<resource group>_<template>, cut to 40 characters, then a GUID (the names seen in every recorded answer). */
function defaultStagingName(rg: string, template: string): string {
  return `IT_${`${rg}_${template}`.slice(0, 40)}_${randomUUID()}`;
}

const stagingTags = ["imageTemplateName", "imageTemplateResourceGroupName"];

/** The stagingResourceGroup rules [I11]; returns why the template cannot provision, if so. */
function stagingProblem(
  store: Store,
  ctx: Ctx,
  group: { subscriptionId: string; name: string },
  location: string,
  principalId: string,
): string | undefined {
  const existing = store.getGroup(group.subscriptionId, group.name);
  if (!existing) {
    if (!/^[-\w._()]{1,90}$/.test(group.name) || group.name.endsWith(".")) {
      return `The staging resource group name '${group.name}' does not meet the Azure naming requirements for resource groups.`;
    }
    return undefined;
  }
  const id = `/subscriptions/${group.subscriptionId}/resourceGroups/${existing.name}`;
  const tags = existing.tags ?? {};
  if (stagingTags.some((t) => Object.keys(tags).some((k) => k.toLowerCase() === t.toLowerCase()))) {
    return `The staging resource group '${id}' is already used by another image template (tags '${stagingTags.join("', '")}').`;
  }
  // Role assignments at the group's scope are not resources inside it.
  if (store.inGroup(group.subscriptionId, existing.name).some((r) => r.type !== roleAssignmentType)) {
    return `The staging resource group '${id}' is not empty.`;
  }
  if (!sameRegion(existing.location, location)) {
    return `The staging resource group '${id}' is in '${existing.location}', not in the image template's region '${location}'.`;
  }
  if (!hasRoleAt(store, principalId, id, [builtInRoles.contributor, builtInRoles.owner])) {
    return (
      `The user assigned identity of the image template needs the 'Contributor' or 'Owner' role on the staging ` +
      `resource group '${id}'.`
    );
  }
  void ctx;
  return undefined;
}

/** A 24-character storage account name (lower-case letters and digits), as Image Builder makes them. */
function storageAccountName(seed: string): string {
  const h = createHash("sha256").update(seed).digest();
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...h.subarray(0, 24)].map((b) => alphabet[b % alphabet.length]).join("");
}

function stagingStorageAccount(store: Store, t: StoredResource): StoredResource | undefined {
  const group = t.stagingResourceGroupId ? parseGroupId(t.stagingResourceGroupId) : undefined;
  if (!group) return undefined;
  return store
    .inGroup(group.subscriptionId, group.name)
    .find((r) => r.type.toLowerCase() === "microsoft.storage/storageaccounts");
}

// ---------------------------------------------------------------- handlers

function getTemplate(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const t = ctx.store.get(templateId(ctx.subscriptionId, p["rg"]!, p["template"]!));
  if (!t) throw resourceNotFound(templateType, [p["template"]!], p["rg"]!);
  return t;
}

function notAllowed(operation: string, t: StoredResource, nowMs: number): ArmError {
  const runState = t.lastRun ? runStatus(t.lastRun, nowMs).runState.toLowerCase() : "none";
  const state = plainProvisioningState(t, nowMs);
  const provisioning = state === "Succeeded" ? "provisioned" : state.toLowerCase();
  return new ArmError(
    409,
    "OperationNotAllowed",
    `Operation Microsoft.VirtualMachineImages/imageTemplates/${operation} is not allowed in provisioning state: ` +
      `${provisioning} or run state: ${runState}.`,
  );
}

const updateNotSupported = () =>
  new ArmError(
    409,
    "Conflict",
    "Update/Upgrade of image templates is currently not supported. Please change the name of the template you " +
      "are submitting. If you have previously tried to submit a template and it failed to provision, you must " +
      "delete it first and then resubmit. For more information, go to https://aka.ms/azvmimagebuilderts.",
  );

export function putTemplate(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const id = templateId(ctx.subscriptionId, p["rg"]!, p["template"]!);
  const existing = ctx.store.get(id);
  if (existing) {
    if (
      existing.deletingUntilMs !== undefined ||
      existing.provisioningFailure ||
      canonical(existing.requestBody) !== comparableBody(body)
    ) {
      throw updateNotSupported();
    }
    const op = startOperation(ctx, "imagebuilder", existing.location, { kind: "timer", completesAtMs: ctx.nowMs });
    return {
      status: 200,
      body: templateView(ctx.store, existing, ctx.apiVersion),
      headers: lroHeaders(ctx, op, { asyncOperation: true }),
    };
  }
  const facts = validateTemplateBody(ctx.store, p["template"]!, body);
  const location = String(body["location"]);
  const props = { ...asObject(body["properties"]) };
  for (const ro of ["provisioningState", "provisioningError", "lastRunStatus", "exactStagingResourceGroup"])
    delete props[ro];
  const source = asObject(props["source"]);
  const given = source["type"] === "SharedImageVersion" ? source["imageVersionId"] : source["version"];
  const exactVersion = facts?.exactVersion ?? given;
  if (exactVersion !== undefined && source["type"] !== "ManagedImage") props["source"] = { ...source, exactVersion };
  const identityId = Object.keys(asObject(asObject(body["identity"])["userAssignedIdentities"]))[0]!;
  const principalId = String(ctx.store.get(identityId)?.properties["principalId"] ?? "");
  const template: StoredResource = {
    id,
    type: templateType,
    name: p["template"]!,
    location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: p["rg"]!,
    tags: tagsOf(body["tags"]),
    identity: asObject(body["identity"]),
    properties: props,
    ...provisioningTimes(ctx, undefined),
    requestBody: JSON.parse(comparableBody(body)),
  };
  const problem = provisioningProblem(ctx, template, facts, principalId);
  if (problem) {
    template.provisioningFailure = problem;
  } else {
    prepareStaging(ctx, template, principalId);
    if (asObject(props["autoRun"])["state"] === "Enabled") {
      template.lastRun = newRun(ctx.store, template, template.provisionedAtMs ?? ctx.nowMs, randomUUID());
      template.runOutputs = [];
    }
  }
  ctx.store.put(template);
  const op = startOperation(ctx, "imagebuilder", location, {
    kind: "timer",
    completesAtMs: template.provisionedAtMs,
    ...(problem ? { error: { code: problem.code, message: problem.message } } : {}),
  });
  return {
    status: 201,
    body: templateView(ctx.store, template, ctx.apiVersion),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

/** Checks done while the template provisions (answered 201 first): platform source [I1], staging group [I11], network [I12]. */
function provisioningProblem(
  ctx: Ctx,
  t: StoredResource,
  facts: SourceFacts | undefined,
  principalId: string,
): StoredResource["provisioningFailure"] {
  const source = asObject(t.properties["source"]);
  if (source["type"] === "PlatformImage" && !facts?.found) {
    const message =
      `The platform image '${String(source["publisher"])}:${String(source["offer"])}:${String(source["sku"])}:` +
      `${String(source["version"] ?? "latest")}' was not found in location '${t.location}'.`;
    return { code: "BadPIRSource", message, provisioningErrorCode: "BadPIRSource" };
  }
  const staging = t.properties["stagingResourceGroup"];
  if (typeof staging === "string" && staging !== "") {
    const group = parseGroupId(staging);
    const problem = group
      ? stagingProblem(ctx.store, ctx, group, t.location, principalId)
      : `The staging resource group '${staging}' is not a resource group id.`;
    if (problem)
      return { code: "BadStagingResourceGroup", message: problem, provisioningErrorCode: "BadStagingResourceGroup" };
  }
  const subnetId = asObject(asObject(t.properties["vmProfile"])["vnetConfig"])["subnetId"];
  if (typeof subnetId === "string" && subnetId !== "") {
    const vnetId = subnetId.replace(/\/subnets\/[^/]+$/i, "");
    if (!hasRoleAt(ctx.store, principalId, vnetId)) {
      return {
        code: "Unauthorized",
        message:
          `Not authorized to access the resource: ${vnetId}. Please check the user assigned identity has the correct ` +
          "permissions. For more details, go to https://aka.ms/azvmimagebuilderts.",
        provisioningErrorCode: "Other",
      };
    }
  }
  return undefined;
}

/**
 * The staging resource group: an existing one is tagged as used by this template; a named one that does not exist,
 * or an `IT_...` one, is created (tagged `createdBy`) with a Contributor assignment for the identity; either holds
 * a storage account for the logs.
 */
function prepareStaging(ctx: Ctx, t: StoredResource, principalId: string): void {
  const staging = t.properties["stagingResourceGroup"];
  const named = typeof staging === "string" && staging !== "" ? parseGroupId(staging) : undefined;
  const group = named ?? { subscriptionId: ctx.subscriptionId, name: defaultStagingName(t.resourceGroup, t.name) };
  const existing = ctx.store.getGroup(group.subscriptionId, group.name);
  const templateTags = { imageTemplateName: t.name, imageTemplateResourceGroupName: t.resourceGroup };
  if (existing) {
    ctx.store.putGroup({
      ...existing,
      tags: { ...(existing.tags ?? {}), usedBy: "AzureVMImageBuilder", ...templateTags },
    });
  } else {
    ctx.store.putGroup({
      subscriptionId: group.subscriptionId,
      name: group.name,
      location: t.location,
      tags: { createdBy: "AzureVMImageBuilder", ...templateTags },
      createdAtMs: ctx.nowMs,
      managedBy: t.id,
    });
    writeRoleAssignment(
      ctx.store,
      {
        subscriptionId: group.subscriptionId,
        scope: `/subscriptions/${group.subscriptionId}/resourceGroups/${group.name}`,
        roleDefinitionId: `/subscriptions/${group.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${builtInRoles.contributor}`,
        principalId,
      },
      ctx.nowMs,
    );
  }
  t.stagingResourceGroupId = `/subscriptions/${group.subscriptionId}/resourceGroups/${existing?.name ?? group.name}`;
  writePlainResource(
    ctx.store,
    {
      id:
        `${t.stagingResourceGroupId}/providers/Microsoft.Storage/storageAccounts/` +
        storageAccountName(`${t.id}|${ctx.nowMs}`),
      location: t.location,
      properties: { createdBy: "AzureVMImageBuilder" },
    },
    ctx.nowMs,
  );
}

/**
 * PATCH of a template (tags, identity, vmProfile): a long-running operation, 202 with Azure-AsyncOperation; the
 * final GET returns the template.
 */
export function patchTemplate(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const t = getTemplate(ctx, p);
  if (t.deletingUntilMs !== undefined) throw notAllowed("write", t, ctx.nowMs);
  if (body["tags"] !== undefined) t.tags = tagsOf(body["tags"]);
  if (asObject(body["identity"])["type"] === "None") {
    t.identity = { type: "None" };
  } else if (body["identity"] !== undefined) {
    const identity = asObject(body["identity"]);
    const assigned = { ...asObject(asObject(t.identity)["userAssignedIdentities"]) };
    for (const [key, value] of Object.entries(asObject(identity["userAssignedIdentities"]))) {
      if (value === null) delete assigned[key];
      else assigned[key] = {};
    }
    t.identity = { ...asObject(t.identity), ...identity, userAssignedIdentities: assigned };
  }
  const vmProfile = asObject(asObject(body["properties"])["vmProfile"]);
  if (Object.keys(vmProfile).length > 0) {
    t.properties["vmProfile"] = { ...asObject(t.properties["vmProfile"]), ...vmProfile };
  }
  t.updatedAtMs = ctx.nowMs;
  ctx.store.touch(t);
  const op = startOperation(ctx, "imagebuilder", t.location, {
    kind: "timer",
    completesAtMs: ctx.nowMs + ctx.store.config.operationDurationInMs,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: "operation" }) };
}

export function getTemplateReply(ctx: Ctx, p: Params): Reply {
  return ok(templateView(ctx.store, getTemplate(ctx, p), ctx.apiVersion));
}

/**
 * DELETE: refused while a run is in progress [I13]; otherwise the template reports Deleting for
 * `deleteDurationInMs`, then disappears with what Image Builder created for it (staging resource group or the
 * resources it put in a given one, including the customization logs).
 */
export function deleteTemplate(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const t = ctx.store.get(templateId(ctx.subscriptionId, p["rg"]!, p["template"]!));
  if (!t) return { status: 204 };
  if (t.lastRun && !isTerminalRunState(runStatus(t.lastRun, ctx.nowMs).runState))
    throw notAllowed("delete", t, ctx.nowMs);
  t.deletingUntilMs ??= ctx.nowMs + ctx.store.config.deleteDurationInMs;
  ctx.store.touch(t);
  const op = startOperation(ctx, "imagebuilder", t.location, { kind: "timer", completesAtMs: t.deletingUntilMs });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: "operation" }) };
}

/** Removes what Image Builder created for a template that is gone. */
export function cleanUpTemplate(store: Store, t: StoredResource): void {
  const group = t.stagingResourceGroupId ? parseGroupId(t.stagingResourceGroupId) : undefined;
  if (!group) return;
  const staging = store.getGroup(group.subscriptionId, group.name);
  if (!staging) return;
  if (staging.managedBy?.toLowerCase() === t.id.toLowerCase()) {
    removeGroupContents(store, staging);
    store.deleteGroup(staging.subscriptionId, staging.name);
    return;
  }
  for (const r of store.inGroup(staging.subscriptionId, staging.name)) {
    if (r.properties["createdBy"] === "AzureVMImageBuilder") store.delete(r.id);
  }
  for (const blob of [...store.blobs.values()]) {
    if (blob.resourceGroup.toLowerCase() === staging.name.toLowerCase()) store.deleteBlob(blob.uri);
  }
  const tags = Object.fromEntries(
    Object.entries(staging.tags ?? {}).filter(([k]) => ![...stagingTags, "usedBy"].includes(k)),
  );
  store.putGroup({ ...staging, tags });
}

onResourceRemovedWithGroup((store, resource) => {
  if (resource.type === templateType) cleanUpTemplate(store, resource);
});

export function listTemplatesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, templateType, (store, r) => templateView(store, r, ctx.apiVersion), p["rg"]!);
}

export function listTemplates(ctx: Ctx): Reply {
  return listOfType(ctx, templateType, (store, r) => templateView(store, r, ctx.apiVersion));
}

// ---------------------------------------------------------------- runs

function templateMatchesRule(
  t: StoredResource,
  rule: { templateName?: string; tag?: { name: string; value?: string } },
): boolean {
  if (!globMatches(rule.templateName, t.name)) return false;
  if (rule.tag) {
    const entry = Object.entries(t.tags ?? {}).find(([k]) => k.toLowerCase() === rule.tag!.name.toLowerCase());
    if (!entry) return false;
    if (rule.tag.value !== undefined && entry[1] !== rule.tag.value) return false;
  }
  return true;
}

/** Resolves the source when a run starts; a missing one fails the run at Building, as the real service reports it. */
function resolveSourceAtRun(store: Store, t: StoredResource): string | undefined {
  const source = asObject(t.properties["source"]);
  const facts = sourceFacts(store, t.location, source);
  if (facts.found) {
    if (facts.exactVersion !== undefined) {
      t.properties["source"] = { ...source, exactVersion: facts.exactVersion };
    }
    return undefined;
  }
  switch (source["type"]) {
    case "ManagedImage": {
      const id = String(source["imageId"]);
      return (
        `Build (Managed Image) step failed: Error getting Managed Image '${id}': compute.ImagesClient#Get: Failure ` +
        `responding to request: StatusCode=404 -- Original Error: autorest/azure: Service returned an error. ` +
        `Status=404 Code="ResourceNotFound" Message="The Resource '${id.split("/providers/")[1] ?? id}' was not found."`
      );
    }
    case "SharedImageVersion": {
      const id = String(source["imageVersionId"]);
      return (
        `Build (Shared Image Version) step failed for Image Version '${id}': Error getting Image Version '${id}': ` +
        "compute.GalleryImageVersionsClient#Get: Failure responding to request: StatusCode=404 -- Original Error: " +
        'autorest/azure: Service returned an error. Status=404 Code="ResourceNotFound"'
      );
    }
    default:
      return `Build (Platform Image) step failed: the platform image was not found in location '${t.location}'.`;
  }
}

/** The customization log's location: a blob in the staging group's storage account, one folder per run. */
function logUriFor(store: Store, t: StoredResource, folder: string): string | undefined {
  const account = stagingStorageAccount(store, t);
  return account ? `https://${account.name}.blob.core.windows.net/packerlogs/${folder}/customization.log` : undefined;
}

/** Image Builder's message for a failed build (image-builder-troubleshoot.md, "Packer build command fails"). */
function packerFailure(logUri: string | undefined, operationId: string): string {
  return (
    "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: Error when " +
    "executing packerizer: Packer build command has failed: exit status 1. During the image build, a failure has " +
    "occurred, please review the build log to identify which build/customization step failed. For more " +
    `troubleshooting steps go to https://aka.ms/azvmimagebuilderts. Image Build log location: ${logUri ?? "(none)"}. ` +
    `OperationId: ${operationId}. Use this operationId to search packer logs.`
  );
}

function newRun(store: Store, t: StoredResource, startMs: number, operationId: string): TemplateRun {
  let durations: PhaseDurations = { ...store.config.imageBuilder.phaseDurationsInMs };
  const folder = randomUUID();
  const logUri = logUriFor(store, t, folder);
  let failure: TemplateRun["failure"];
  const failingDistributions: string[] = [];
  const outputs = (Array.isArray(t.properties["distribute"]) ? (t.properties["distribute"] as unknown[]) : []).map(
    (d) => String(asObject(d)["runOutputName"]),
  );
  for (const entry of store.templateRules) {
    if (!templateMatchesRule(t, entry.rule)) continue;
    if (entry.rule.phaseDurationsInMs) durations = { ...durations, ...entry.rule.phaseDurationsInMs };
    if (entry.remainingFailures <= 0) continue;
    if (!failure && entry.rule.failAt) {
      entry.remainingFailures -= 1;
      store.changed();
      failure = {
        subState: entry.rule.failAt,
        message: entry.rule.failureMessage ?? packerFailure(logUri, operationId),
      };
    } else if (entry.rule.failDistribution !== undefined) {
      const matching = outputs.filter((o) => globMatches(entry.rule.failDistribution, o));
      if (matching.length > 0) {
        entry.remainingFailures -= 1;
        store.changed();
        failingDistributions.push(...matching);
      }
    }
  }
  const sourceProblem = resolveSourceAtRun(store, t);
  if (sourceProblem) failure = { subState: "Building", message: sourceProblem };
  if (!failure && store.config.imageBuilder.failureRate > 0 && Math.random() < store.config.imageBuilder.failureRate) {
    failure = { subState: "Customizing", message: packerFailure(logUri, operationId) };
  }
  const optimize = asObject(asObject(t.properties["optimize"])["vmBoot"])["state"] === "Enabled";
  return {
    runId: randomUUID(),
    operationId,
    startMs,
    phases: runPhases(durations, optimize),
    ...(failure ? { failure } : {}),
    ...(failingDistributions.length > 0 ? { failingDistributions } : {}),
    cancelDurationMs: store.config.imageBuilder.cancelDurationInMs,
    finished: false,
    ...(logUri ? { logUri } : {}),
  };
}

export function runTemplate(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const t = getTemplate(ctx, p);
  if (plainProvisioningState(t, ctx.nowMs) !== "Succeeded") throw notAllowed("run", t, ctx.nowMs);
  if (t.lastRun && !isTerminalRunState(runStatus(t.lastRun, ctx.nowMs).runState)) throw notAllowed("run", t, ctx.nowMs);
  const op = startOperation(ctx, "imagebuilder", t.location, { kind: "run", resourceKey: t.id.toLowerCase() });
  t.lastRun = newRun(ctx.store, t, ctx.nowMs, op.id);
  op.runId = t.lastRun.runId;
  t.runOutputs = [];
  ctx.store.touch(t);
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: "operation" }) };
}

/** Cancel answers 204 at once (recorded); the run reports Canceling, then Canceled. */
export function cancelTemplate(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForWrite(ctx, p["rg"]!);
  const t = getTemplate(ctx, p);
  const run = t.lastRun;
  if (!run || runStatus(run, ctx.nowMs).runState !== "Running") throw notAllowed("cancel", t, ctx.nowMs);
  run.cancelRequestedMs = ctx.nowMs;
  ctx.store.touch(t);
  return { status: 204 };
}

function runOutputView(t: StoredResource, output: RunOutput & { provisioningState?: string }): unknown {
  return {
    properties: {
      ...(output.artifactId ? { artifactId: output.artifactId } : {}),
      ...(output.artifactUri ? { artifactUri: output.artifactUri } : {}),
      provisioningState: output.provisioningState ?? "Succeeded",
    },
    id: `${templateViewId(t)}/runOutputs/${output.name}`,
    name: output.name,
    type: `${templateType}/runOutputs`,
  };
}

export function listRunOutputs(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  return page(
    ctx,
    (t.runOutputs ?? []).map((o) => runOutputView(t, o)),
  );
}

export function getRunOutput(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  const output = (t.runOutputs ?? []).find((o) => o.name.toLowerCase() === p["output"]!.toLowerCase());
  if (!output) throw resourceNotFound(`${templateType}/runOutputs`, [t.name, p["output"]!], p["rg"]!);
  return ok(runOutputView(t, output));
}

// ---------------------------------------------------------------- distribution

function nextVersionName(store: Store, definitionId: string, major: number | undefined): string {
  const names = store
    .childrenOf(definitionId, imageVersionType)
    .map((v) => v.name)
    .filter((n) => major === undefined || parseVersionName(n)?.[0] === major)
    .sort(compareVersionNames);
  const highest = names.length > 0 ? parseVersionName(names[names.length - 1]!) : undefined;
  if (!highest) return major === undefined ? "1.0.0" : `${major}.0.0`;
  return `${highest[0]}.${highest[1]}.${highest[2] + 1}`;
}

/** The version a SharedImage distributor writes: named in `galleryImageId`, else by `versioning` [I15]. */
function versionNameFor(
  store: Store,
  t: StoredResource,
  d: Record<string, unknown>,
  definitionId: string,
  apiVersion: string | undefined,
): { name?: string; problem?: string } {
  const explicit = /\/versions\/([^/]+)$/i.exec(String(d["galleryImageId"]))?.[1];
  if (explicit) return { name: explicit };
  const versioning = apiVersionAtLeast(apiVersion, "2023-07-01") ? asObject(d["versioning"]) : {};
  if (versioning["scheme"] === "Source") {
    const source = asObject(t.properties["source"]);
    const exact = String(source["exactVersion"] ?? "");
    const fromVersionId = /\/versions\/([^/]+)$/i.exec(exact)?.[1];
    const parts = (fromVersionId ?? exact).split(".");
    const numbers = parts.map(Number);
    if (parts.length !== 3 || numbers.some((n) => !Number.isInteger(n) || n < 0 || n > 2_147_483_647)) {
      return {
        problem: `The source image version '${exact}' cannot be used as a gallery image version number (versioning scheme 'Source').`,
      };
    }
    return { name: numbers.join(".") };
  }
  const major = typeof versioning["major"] === "number" && versioning["major"] >= 0 ? versioning["major"] : undefined;
  return { name: nextVersionName(store, definitionId, major) };
}

function splitDefinitionId(definitionId: string): { s: string; rg: string; g: string; i: string } {
  const parts = definitionId.split("/");
  return { s: parts[2]!, rg: parts[4]!, g: parts[8]!, i: parts[10]! };
}

/** Writes what each distributor produces when the run reaches Distributing (at `atMs`). */
function distribute(store: Store, t: StoredResource, run: TemplateRun, atMs: number): void {
  const source = asObject(t.properties["source"]);
  const facts = sourceFacts(store, t.location, source);
  const account = stagingStorageAccount(store, t);
  const vhdUri = `https://${account?.name ?? "staging"}.blob.core.windows.net/vhds/${randomUUID()}.vhd`;
  const diskSizeGB = Number(asObject(t.properties["vmProfile"])["osDiskSizeGB"] ?? 0) || facts.osDiskSizeGB || 30;
  const distributingMs = run.phases.find((ph) => ph.subState === "Distributing")?.durationMs ?? 0;
  const outcomes: DistributionOutcome[] = [];
  let endMs = atMs + distributingMs;
  const builderTags = { VMImageBuilderSource: facts.description };
  (Array.isArray(t.properties["distribute"]) ? (t.properties["distribute"] as unknown[]) : []).forEach((raw, index) => {
    const d = asObject(raw);
    const runOutputName = String(d["runOutputName"]);
    const artifactTags = tagsOf(d["artifactTags"]) ?? {};
    const failOutcome = (message: string) => outcomes.push({ runOutputName, index, ok: false, message });
    if (run.failingDistributions?.includes(runOutputName)) {
      failOutcome(`Distribution '${runOutputName}' failed (scripted by an emulator rule).`);
      return;
    }
    switch (d["type"]) {
      case "ManagedImage": {
        const parts = String(d["imageId"]).split("/");
        const [s, rg, name] = [parts[2]!, parts[4]!, parts[8]!];
        if (!store.getGroup(s, rg)) {
          failOutcome(
            `Error distributing the managed image '${String(d["imageId"])}': resource group '${rg}' could not be found.`,
          );
          return;
        }
        const image = writeManagedImage(
          store,
          {
            subscriptionId: s,
            resourceGroup: rg,
            name,
            location: String(d["location"]),
            tags: { ...artifactTags, ...builderTags },
            properties: {
              storageProfile: {
                osDisk: {
                  osType: facts.osType ?? "Linux",
                  osState: "Generalized",
                  diskSizeGB,
                  blobUri: vhdUri,
                  caching: "None",
                  storageAccountType: "Standard_LRS",
                },
                dataDisks: [],
              },
              hyperVGeneration: facts.hyperVGeneration ?? "V1",
            },
          },
          atMs,
        );
        outcomes.push({ runOutputName, index, ok: true, artifactId: image.id });
        return;
      }
      case "VHD":
        outcomes.push({
          runOutputName,
          index,
          ok: true,
          artifactUri: typeof d["uri"] === "string" && d["uri"] !== "" ? d["uri"] : vhdUri,
        });
        return;
      case "SharedImage": {
        const galleryImageId = String(d["galleryImageId"]);
        const definitionId = targetDefinitionId(galleryImageId);
        const definition = store.get(definitionId);
        const location = definition?.location ?? t.location;
        const publishError = (message: string) =>
          failOutcome(
            `Error publishing MDI to Azure Compute Gallery:${definitionId}, Location:${location}. Error: ${message}`,
          );
        if (!definition) {
          publishError(`the gallery image definition '${definitionId}' was not found.`);
          return;
        }
        const { name, problem } = versionNameFor(store, t, d, definitionId, t.apiVersion);
        if (!name) {
          publishError(problem ?? "no version number.");
          return;
        }
        if (store.get(`${definitionId}/versions/${name}`)) {
          publishError(
            `The gallery image version '${definitionId}/versions/${name}' already exists. The image version ID ` +
              "needs to be distinct from any image version in the gallery.",
          );
          return;
        }
        const targetRegions = Array.isArray(d["targetRegions"])
          ? (d["targetRegions"] as unknown[]).map(asObject).map((r) => ({
              name: r["name"],
              regionalReplicaCount: r["replicaCount"] ?? 1,
              storageAccountType: r["storageAccountType"] ?? "Standard_LRS",
            }))
          : Array.isArray(d["replicationRegions"])
            ? (d["replicationRegions"] as unknown[]).map((r) => ({ name: r, regionalReplicaCount: 1 }))
            : [{ name: location }];
        const { s, rg, g, i } = splitDefinitionId(definitionId);
        try {
          const { version } = writeVersion(
            store,
            {
              subscriptionId: s,
              resourceGroup: rg,
              gallery: g,
              imageDefinition: i,
              version: name,
              skipSourceCheck: true,
              body: {
                location,
                tags: { ...artifactTags, ...builderTags, correlationId: randomUUID() },
                properties: {
                  publishingProfile: {
                    targetRegions,
                    replicaCount: 1,
                    excludeFromLatest: d["excludeFromLatest"] === true,
                    storageAccountType: "Standard_LRS",
                    ...(d["replicationMode"] ? { replicationMode: d["replicationMode"] } : {}),
                  },
                  storageProfile: {
                    osDiskImage: {
                      sizeInGB: diskSizeGB,
                      hostCaching: "ReadWrite",
                      source: { uri: vhdUri, storageAccountId: account?.id ?? "" },
                    },
                  },
                },
              },
            },
            atMs,
          );
          const vs = versionStatus(version.replication ?? { phase: "create", regions: [] }, atMs);
          endMs = Math.max(endMs, vs.settlesAtMs);
          const failed = versionStatus(
            version.replication ?? { phase: "create", regions: [] },
            vs.settlesAtMs,
          ).summary.filter((x) => x.state === "Failed");
          if (failed.length > 0) {
            publishError(
              `Gallery replication jobs failed in one or more regions: ${failed.map((f) => `${f.region}: ${f.details}`).join("; ")}`,
            );
          } else {
            outcomes.push({ runOutputName, index, ok: true, artifactId: version.id });
          }
        } catch (error) {
          publishError(error instanceof Error ? error.message : String(error));
        }
        return;
      }
    }
  });
  run.distribution = { endMs, outcomes };
  t.runOutputs = outcomes.map((o) => ({
    name: o.runOutputName,
    ...(o.artifactId ? { artifactId: o.artifactId } : {}),
    ...(o.artifactUri ? { artifactUri: o.artifactUri } : {}),
    ...(o.ok ? {} : { provisioningState: "Failed" }),
  }));
}

/** The customization log of a finished run, written where its message says it is. */
function writeLog(store: Store, t: StoredResource, run: TemplateRun, nowMs: number): void {
  if (!run.logUri) return;
  const account = stagingStorageAccount(store, t);
  const group = t.stagingResourceGroupId ? parseGroupId(t.stagingResourceGroupId) : undefined;
  if (!account || !group) return;
  const rs = runStatus(run, nowMs);
  const id = run.operationId;
  const lines = [`[${id}] PACKER OUT ==> azure-arm: Running builder ...`];
  const steps = Array.isArray(t.properties["customize"]) ? (t.properties["customize"] as unknown[]) : [];
  for (const raw of steps) {
    const step = asObject(raw);
    const provisioner = String(step["type"])
      .toLowerCase()
      .replace("windowsrestart", "windows-restart")
      .replace("windowsupdate", "windows-update");
    lines.push(`[${id}] PACKER ERR [INFO] (telemetry) Starting provisioner ${provisioner}`);
    if (rs.runState === "Failed" && run.failure?.subState === "Customizing" && raw === steps[steps.length - 1]) {
      lines.push(`[${id}] PACKER ERR Build 'azure-arm' errored: Script exited with non-zero exit status: 1`);
      break;
    }
    lines.push(`[${id}] PACKER ERR [INFO] (telemetry) ending ${provisioner}`);
  }
  if (rs.message) lines.push(`[${id}] PACKER OUT ${rs.message}`);
  lines.push(
    `[${id}] PACKER ERR [INFO] (telemetry) Finalizing.`,
    `[${id}] PACKER Done exporting Packer logs to Azure Storage.`,
  );
  store.putBlob({
    uri: run.logUri,
    subscriptionId: group.subscriptionId,
    resourceGroup: group.name,
    contentType: "text/plain; charset=utf-8",
    text: lines.join("\n") + "\n",
    createdAtMs: nowMs,
  });
}

/** Settles runs since the last request: distribution when Distributing is reached, logs when a run ends. */
export function settleRuns(store: Store): void {
  if (store.activeRuns.size === 0) return;
  const nowMs = store.now();
  for (const key of [...store.activeRuns]) {
    const t = store.resources.get(key);
    const run = t?.lastRun;
    if (!t || !run) {
      store.activeRuns.delete(key);
      continue;
    }
    const startDistributing = distributingStartMs(run);
    const canceledBefore =
      run.cancelRequestedMs !== undefined &&
      startDistributing !== undefined &&
      run.cancelRequestedMs < startDistributing;
    if (!run.distribution && startDistributing !== undefined && !canceledBefore && nowMs >= startDistributing) {
      distribute(store, t, run, startDistributing);
      store.touch(t);
    }
    const rs = runStatus(run, nowMs);
    if (!isTerminalRunState(rs.runState)) continue;
    writeLog(store, t, run, rs.endMs ?? nowMs);
    run.finished = true;
    store.touch(t);
  }
}
